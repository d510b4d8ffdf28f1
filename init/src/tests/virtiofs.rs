//! virtio-fs wiring on the host: the platform's devices reach the
//! `virtiofs` type by tag through the mount table. The device here is a
//! daemon that never answers (the FUSE client itself is `fs-virtiofs`'s,
//! tested there and under QEMU).

use std::string::ToString;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::vec;

use drivers::{FuseTransport, TransportError};
use vfs::{Errno, MountFlags, MountSource};

use super::platform::{Machine, TestPlatform, image};
use crate::{Share, mount_all};

/// Counts the messages it is given and answers none of them.
#[derive(Default)]
struct Silent(AtomicU64);

impl FuseTransport for Silent {
    fn call(&self, _request: &[&[u8]], _reply: &mut [&mut [u8]]) -> Result<usize, TransportError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Err(TransportError::Timeout)
    }

    fn max_message(&self) -> usize {
        1 << 20
    }
}

#[test]
fn a_share_is_mounted_by_its_tag_and_an_unknown_tag_is_named() {
    let silent = Arc::new(Silent::default());
    let platform = TestPlatform::new(8 << 20).with_shares(vec![Share {
        tag: "share".to_string(),
        transport: silent.clone(),
    }]);
    let machine = Machine::new(
        Some(image(&[])),
        "vfs.fstab=vblk0:/:rofs vfs.fstab=share:/data:virtiofs:ro",
    );
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    let vfs = &mounted.vfs;
    // The entry reached the platform's device (INIT), which never answered:
    // the mount failed, and only it.
    assert_eq!(silent.0.load(Ordering::Relaxed), 1);
    assert!(vfs.mounts().iter().all(|m| m.fs_type != "virtiofs"));
    assert!(vfs.mounts().iter().any(|m| m.target == "/"));
    let source = MountSource::Named("share".to_string());
    let why = vfs
        .diagnose_mount(&source, "virtiofs", "")
        .expect("diagnosis");
    assert_eq!(
        why,
        "virtiofs 'share': FUSE INIT failed: EIO (Input/output error)"
    );

    let flags = MountFlags::empty();
    assert_eq!(
        vfs.mount(Some("nosuch"), "/links", "virtiofs", flags, ""),
        Err(Errno::ENODEV)
    );
    let source = MountSource::Named("nosuch".to_string());
    let why = vfs
        .diagnose_mount(&source, "virtiofs", "")
        .expect("diagnosis");
    assert_eq!(
        why,
        "virtiofs: no device with tag 'nosuch' (devices: share)"
    );
}

#[test]
fn without_shares_the_type_is_there_with_no_devices() {
    let platform = TestPlatform::new(8 << 20);
    let machine = Machine::new(Some(image(&[])), "");
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    let source = MountSource::Named("share".to_string());
    let why = mounted
        .vfs
        .diagnose_mount(&source, "virtiofs", "")
        .expect("diagnosis");
    assert_eq!(why, "virtiofs: no device with tag 'share' (devices: none)");
}
