//! Unit tests against the in-memory test backend (`testfs`), one file per topic.

use alloc::sync::Arc;

use crate::testfs::{self, TestFs};
use crate::*;

mod basics;
mod dcache_bound;
mod hidden;
mod layers;
mod listing;
mod owners;

/// A VFS with a fresh test filesystem on `/`.
fn vfs() -> Vfs {
    let v = Vfs::new(Arc::new(FixedClock(Timespec::new(1, 0))));
    v.mount_fs(TestFs::new(false), "none", "/", MountFlags::empty(), "")
        .unwrap();
    v
}

/// [`vfs`] with the test type registered as `testfs`.
fn vfs_with_types() -> Vfs {
    let v = vfs();
    register_testfs(&v);
    v
}

fn register_testfs(v: &Vfs) {
    v.register(Arc::new(FnFsType {
        name: "testfs",
        create: testfs::ctor,
    }))
    .unwrap();
}

/// A stacking type for the layer tests: records the layers and type
/// options each mount hands it, then builds a fresh test filesystem (or
/// fails with EIO when its options contain `fail`).
#[derive(Default)]
struct Stack {
    seen: spin::Mutex<alloc::vec::Vec<(Layers, alloc::string::String)>>,
}

impl FsType for Stack {
    fn name(&self) -> &'static str {
        "stack"
    }

    fn create(&self, ctx: &MountContext) -> VfsResult<Arc<dyn FileSystem>> {
        let MountSource::Layers(layers) = &ctx.source else {
            return Err(Errno::EINVAL);
        };
        self.seen.lock().push((layers.clone(), ctx.options.clone()));
        if ctx.options.contains("fail") {
            return Err(Errno::EIO);
        }
        Ok(TestFs::new(false))
    }
}

/// A VFS with `root` on `/`, the test type and a [`Stack`] registered.
fn stacking_vfs() -> (Vfs, Arc<TestFs>, Arc<Stack>) {
    let v = Vfs::new(Arc::new(FixedClock(Timespec::new(1, 0))));
    let root = TestFs::new(false);
    v.mount_fs(root.clone(), "none", "/", MountFlags::empty(), "")
        .unwrap();
    let stack = Arc::new(Stack::default());
    v.register(stack.clone()).unwrap();
    register_testfs(&v);
    (v, root, stack)
}

/// Whether two handles are the same object (pointer identity).
fn same<A: ?Sized, B: ?Sized>(a: &Arc<A>, b: &Arc<B>) -> bool {
    core::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}
