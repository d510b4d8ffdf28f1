//! Mounting under a capped heap (issue 8.2): every allocation sized by the
//! image is fallible, so a heap too small for an image's tables gives
//! ENOMEM instead of an abort, and a v1 image of 100,000 files (OSv's
//! format) mounts in no more memory than the v2 image of the same tree.
//!
//! The whole binary runs under [`Cap`], whose limit is set around each
//! mount: an allocation past it returns null, which a fallible allocation
//! turns into an error and an infallible one into an abort of this test.
//! One test function, so nothing else allocates while a limit is set.

mod common;

use std::alloc::System;
use std::sync::Arc;

use cap::Cap;
use common::*;
use drivers::BlockDevice;
use fs_rofs::RofsFs;
use fs_rofs::writer::{EntryMeta, FileSource, Format, ImageBuilder};
use pagecache::{CachedDevice, PageCache};
use vfs::{Errno, FileSystem};

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

const FILES: usize = 100_000;
const PER_DIR: usize = 1000;

/// 100 directories of 1,000 empty files, as `mkimage` would lay them out.
fn image(format: Format) -> Arc<dyn BlockDevice> {
    let block_size = if format == Format::V1 { 512 } else { 4096 };
    let mut b = ImageBuilder::new(options(format, block_size));
    for i in 0..FILES {
        let path = format!("/dir-{:03}/file-{i:06}.txt", i / PER_DIR);
        b.add_file(&path, FileSource::Bytes(Vec::new()), EntryMeta::default())
            .unwrap();
    }
    disk(write_image(b).0)
}

/// Run `f` with at most `budget` more bytes allocatable than now.
fn capped<T>(budget: usize, f: impl FnOnce() -> T) -> T {
    HEAP.set_limit(HEAP.allocated() + budget).unwrap();
    let out = f();
    HEAP.set_limit(usize::MAX).unwrap();
    out
}

/// The device as a mount sees it: through a page cache, made outside any
/// capped region (the cache's own small fixed allocations are not sized by
/// the image).
fn cached(dev: &Arc<dyn BlockDevice>) -> Arc<CachedDevice> {
    PageCache::new(1 << 20).attach("test", dev.clone()).unwrap()
}

/// Mount under `budget`; the mount is dropped before the limit is lifted,
/// so only its outcome leaves the capped region.
fn mount_under(dev: &Arc<dyn BlockDevice>, budget: usize) -> Result<(), Errno> {
    let dev = cached(dev);
    capped(budget, || RofsFs::mount_cached(dev, "").map(drop))
}

/// The smallest budget (to 1 KiB) under which `dev` mounts.
fn mount_need(dev: &Arc<dyn BlockDevice>) -> usize {
    let (mut fails, mut fits) = (0usize, 64 << 20);
    assert_eq!(mount_under(dev, fits), Ok(()), "mounts with 64 MiB");
    while fits - fails > 1024 {
        let mid = fails + (fits - fails) / 2;
        match mount_under(dev, mid) {
            Ok(()) => fits = mid,
            Err(e) => {
                assert_eq!(e, Errno::ENOMEM, "budget {mid}");
                fails = mid;
            }
        }
    }
    fits
}

/// Bytes a mount keeps allocated while it is mounted.
fn resident(dev: &Arc<dyn BlockDevice>) -> usize {
    let dev = cached(dev);
    let before = HEAP.allocated();
    let fs = RofsFs::mount_cached(dev, "").unwrap();
    let kept = HEAP.allocated() - before;
    assert!(fs.statfs().unwrap().files > FILES as u64);
    kept
}

#[test]
fn large_v1_mounts_within_v2_needs_and_small_heaps_get_enomem() {
    let v1 = image(Format::V1);
    let v2 = image(Format::V2);
    let need_v2 = mount_need(&v2);
    let need_v1 = mount_need(&v1);
    let (kept_v1, kept_v2) = (resident(&v1), resident(&v2));
    println!(
        "{FILES} files: mount needs v1 {} KiB (keeps {} KiB), v2 {} KiB (keeps {} KiB)",
        need_v1 >> 10,
        kept_v1 >> 10,
        need_v2 >> 10,
        kept_v2 >> 10
    );
    // The v1 image mounts under a cap that fits the v2 image's needs...
    assert_eq!(mount_under(&v1, need_v2), Ok(()));
    // ...and well inside a 16 MiB guest's heap.
    assert!(need_v1 < 8 << 20, "v1 needs {need_v1} bytes");
    assert!(kept_v1 <= need_v1 && kept_v2 <= need_v2);

    // Every budget below the need is refused cleanly, for both versions,
    // through mount and through inspect (which loads the same way).
    for (dev, need) in [(&v1, need_v1), (&v2, need_v2)] {
        for percent in [0, 1, 10, 25, 50, 75, 90, 99] {
            let budget = need / 100 * percent;
            assert_eq!(mount_under(dev, budget), Err(Errno::ENOMEM), "{percent}%");
            let inspected = capped(budget, || fs_rofs::inspect(&**dev).map(drop));
            assert!(
                matches!(inspected, Err(fs_rofs::RofsError::NoMemory { .. })),
                "{percent}%: {inspected:?}"
            );
        }
    }
}
