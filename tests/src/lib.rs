//! Host test support (in progress).
