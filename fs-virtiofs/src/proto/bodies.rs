//! Request and reply bodies, field for field as `fuse.h` 7.31 has them.
//! Sizes are checked at compile time against the C layout.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

macro_rules! wire {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty,)* } = $size:expr;) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
        #[repr(C)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: $ty,)*
        }
        const _: () = assert!(size_of::<$name>() == $size);
    };
}

wire! {
    /// Attributes of a node (`struct fuse_attr`).
    Attr {
        ino: u64,
        size: u64,
        blocks: u64,
        atime: u64,
        mtime: u64,
        ctime: u64,
        atimensec: u32,
        mtimensec: u32,
        ctimensec: u32,
        mode: u32,
        nlink: u32,
        uid: u32,
        gid: u32,
        rdev: u32,
        blksize: u32,
        flags: u32,
    } = 88;
}

wire! {
    /// Reply to LOOKUP, MKNOD, MKDIR, SYMLINK, LINK (and the first part of
    /// CREATE's): a node the server now counts one more lookup of.
    EntryOut {
        /// 0 in a LOOKUP reply: a negative entry (the name does not exist).
        nodeid: u64,
        generation: u64,
        entry_valid: u64,
        attr_valid: u64,
        entry_valid_nsec: u32,
        attr_valid_nsec: u32,
        attr: Attr,
    } = 128;
}

wire! {
    /// FORGET: drop `nlookup` lookups of the request's node.
    ForgetIn { nlookup: u64, } = 8;
}

wire! {
    /// BATCH_FORGET: `count` [`ForgetOne`]s follow.
    BatchForgetIn { count: u32, dummy: u32, } = 8;
}

wire! {
    ForgetOne { nodeid: u64, nlookup: u64, } = 16;
}

wire! {
    GetattrIn { getattr_flags: u32, dummy: u32, fh: u64, } = 16;
}

wire! {
    /// Reply to GETATTR and SETATTR.
    AttrOut {
        attr_valid: u64,
        attr_valid_nsec: u32,
        dummy: u32,
        attr: Attr,
    } = 104;
}

wire! {
    /// SETATTR: the fields named by `valid` (see [`super::fattr`]).
    SetattrIn {
        valid: u32,
        padding: u32,
        fh: u64,
        size: u64,
        lock_owner: u64,
        atime: u64,
        mtime: u64,
        ctime: u64,
        atimensec: u32,
        mtimensec: u32,
        ctimensec: u32,
        mode: u32,
        unused4: u32,
        uid: u32,
        gid: u32,
        unused5: u32,
    } = 88;
}

wire! {
    /// MKNOD, followed by the name.
    MknodIn { mode: u32, rdev: u32, umask: u32, padding: u32, } = 16;
}

wire! {
    /// MKDIR, followed by the name.
    MkdirIn { mode: u32, umask: u32, } = 8;
}

wire! {
    /// RENAME, followed by the old and the new name.
    RenameIn { newdir: u64, } = 8;
}

wire! {
    /// LINK (sent to the new parent), followed by the new name.
    LinkIn { oldnodeid: u64, } = 8;
}

wire! {
    /// OPEN and OPENDIR.
    OpenIn { flags: u32, open_flags: u32, } = 8;
}

wire! {
    /// CREATE, followed by the name; the reply is [`EntryOut`] then [`OpenOut`].
    CreateIn { flags: u32, mode: u32, umask: u32, open_flags: u32, } = 16;
}

wire! {
    /// Reply to OPEN, OPENDIR (and the second part of CREATE's).
    OpenOut { fh: u64, open_flags: u32, padding: u32, } = 16;
}

wire! {
    /// RELEASE and RELEASEDIR.
    ReleaseIn { fh: u64, flags: u32, release_flags: u32, lock_owner: u64, } = 24;
}

wire! {
    FlushIn { fh: u64, unused: u32, padding: u32, lock_owner: u64, } = 24;
}

wire! {
    /// READ, READDIR and READDIRPLUS: the reply is at most `size` bytes.
    ReadIn {
        fh: u64,
        offset: u64,
        size: u32,
        read_flags: u32,
        lock_owner: u64,
        flags: u32,
        padding: u32,
    } = 40;
}

wire! {
    /// WRITE, followed by `size` bytes of data.
    WriteIn {
        fh: u64,
        offset: u64,
        size: u32,
        write_flags: u32,
        lock_owner: u64,
        flags: u32,
        padding: u32,
    } = 40;
}

wire! {
    WriteOut { size: u32, padding: u32, } = 8;
}

wire! {
    /// Reply to STATFS (`struct fuse_statfs_out`, which is just this).
    StatfsOut {
        blocks: u64,
        bfree: u64,
        bavail: u64,
        files: u64,
        ffree: u64,
        bsize: u32,
        namelen: u32,
        frsize: u32,
        padding: u32,
        spare: [u32; 6],
    } = 80;
}

wire! {
    /// FSYNC and FSYNCDIR.
    FsyncIn { fh: u64, fsync_flags: u32, padding: u32, } = 16;
}

wire! {
    /// INIT as of 7.31 (later versions append `flags2` and reserved words
    /// only when they announce a minor of 36 or more).
    InitIn { major: u32, minor: u32, max_readahead: u32, flags: u32, } = 16;
}

wire! {
    /// Reply to INIT, for a client that announced a minor of 23 or more.
    InitOut {
        major: u32,
        minor: u32,
        max_readahead: u32,
        flags: u32,
        max_background: u16,
        congestion_threshold: u16,
        max_write: u32,
        time_gran: u32,
        max_pages: u16,
        map_alignment: u16,
        flags2: u32,
        unused: [u32; 7],
    } = 64;
}

wire! {
    /// The fixed part of one READDIR record; `namelen` name bytes follow,
    /// then padding to 8 bytes.
    DirentHeader { ino: u64, off: u64, namelen: u32, kind: u32, } = 24;
}
