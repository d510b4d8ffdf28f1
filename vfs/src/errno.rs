//! Linux-numbered error codes.

use core::fmt;

macro_rules! errnos {
    ($($name:ident = $num:expr, $msg:expr;)*) => {
        /// An error code with Linux's number. Every fallible VFS call returns `Result<_, Errno>`.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(i32)]
        #[allow(clippy::upper_case_acronyms)]
        pub enum Errno {
            $(#[doc = $msg] $name = $num,)*
        }

        impl Errno {
            /// The symbolic name, such as `"ENOENT"`.
            pub fn name(self) -> &'static str {
                match self { $(Errno::$name => stringify!($name),)* }
            }

            /// A short human description, such as `"No such file or directory"`.
            pub fn description(self) -> &'static str {
                match self { $(Errno::$name => $msg,)* }
            }

            /// The errno for a Linux number, if it is one we model.
            pub fn from_raw(num: i32) -> Option<Errno> {
                match num { $($num => Some(Errno::$name),)* _ => None }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    EIO = 5, "Input/output error";
    ENXIO = 6, "No such device or address";
    E2BIG = 7, "Argument list too long";
    EBADF = 9, "Bad file descriptor";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    ENOTBLK = 15, "Block device required";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    EXDEV = 18, "Invalid cross-device link";
    ENODEV = 19, "No such device";
    ENOTDIR = 20, "Not a directory";
    EISDIR = 21, "Is a directory";
    EINVAL = 22, "Invalid argument";
    ENFILE = 23, "Too many open files in system";
    EMFILE = 24, "Too many open files";
    ENOTTY = 25, "Inappropriate ioctl for device";
    EFBIG = 27, "File too large";
    ENOSPC = 28, "No space left on device";
    ESPIPE = 29, "Illegal seek";
    EROFS = 30, "Read-only file system";
    EMLINK = 31, "Too many links";
    ERANGE = 34, "Numerical result out of range";
    ENAMETOOLONG = 36, "File name too long";
    ENOSYS = 38, "Function not implemented";
    ENOTEMPTY = 39, "Directory not empty";
    ELOOP = 40, "Too many levels of symbolic links";
    EOVERFLOW = 75, "Value too large for defined data type";
    EOPNOTSUPP = 95, "Operation not supported";
    EUCLEAN = 117, "Structure needs cleaning";
}

impl Errno {
    /// The Linux number.
    pub fn raw(self) -> i32 {
        self as i32
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.description())
    }
}

impl core::error::Error for Errno {}

/// Shorthand for VFS results.
pub type VfsResult<T> = Result<T, Errno>;

/// How a block-device failure reads to a caller of the VFS: a read-only
/// device is EROFS, a buffer that could not be allocated ENOMEM, anything
/// else (a device error, a request past the end of a corrupt image, a block
/// that failed verification) EIO.
impl From<drivers::BlockError> for Errno {
    fn from(error: drivers::BlockError) -> Errno {
        use drivers::BlockError;
        match error {
            BlockError::ReadOnly => Errno::EROFS,
            BlockError::NoMemory => Errno::ENOMEM,
            BlockError::OutOfRange
            | BlockError::Misaligned
            | BlockError::Io
            | BlockError::Corrupt => Errno::EIO,
        }
    }
}
