//! Several threads on one mount: no deadlock between the node table, the
//! FORGET queue, handles and the VFS; the server's lookup counts and handles
//! balance out at the end.

mod common;

use std::sync::Arc;

use common::FakeServer;
use fs_virtiofs::VirtioFsType;
use vfs::{FixedClock, MountFlags, OpenFlags, Timespec, Vfs};

#[test]
fn threads_share_nodes_and_handles_and_everything_balances() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..20 {
        std::fs::write(dir.path().join(format!("shared{i}")), vec![i as u8; 3000]).unwrap();
    }
    let server = Arc::new(FakeServer::new(dir.path()));
    let vfs = Arc::new(Vfs::new(Arc::new(FixedClock(Timespec::new(1, 0)))));
    vfs.register(Arc::new(fs_ramfs::RamFsType)).unwrap();
    vfs.register(Arc::new(VirtioFsType::new(vec![(
        "share".to_string(),
        server.clone() as Arc<dyn fs_virtiofs::FuseTransport>,
    )])))
    .unwrap();
    vfs.mount(None, "/", "ramfs", MountFlags::empty(), "")
        .unwrap();
    vfs.mkdir("/mnt", 0o755).unwrap();
    vfs.mount(Some("share"), "/mnt", "virtiofs", MountFlags::empty(), "")
        .unwrap();

    let threads: Vec<_> = (0..4)
        .map(|t| {
            let vfs = vfs.clone();
            std::thread::spawn(move || {
                let mine = format!("/mnt/t{t}");
                vfs.mkdir(&mine, 0o755).unwrap();
                for round in 0..60 {
                    let path = format!("{mine}/f{}", round % 7);
                    let data = vec![(t * 60 + round) as u8; 1000 + round * 37];
                    vfs.write_file(&path, &data).unwrap();
                    assert_eq!(vfs.read_file(&path).unwrap(), data);
                    let shared = format!("/mnt/shared{}", (t + round) % 20);
                    assert_eq!(vfs.stat(&shared).unwrap().size, 3000);
                    let fd = vfs.open(&shared, OpenFlags::O_RDONLY, 0).unwrap();
                    let mut buf = [0u8; 100];
                    assert_eq!(vfs.pread(fd, &mut buf, 2950).unwrap(), 50);
                    vfs.close(fd).unwrap();
                    if round % 3 == 0 {
                        vfs.rename(&path, &format!("{mine}/renamed")).unwrap();
                        vfs.unlink(&format!("{mine}/renamed")).unwrap();
                    }
                    let listed = vfs.read_dir(&mine).unwrap().len();
                    assert!(listed <= 7);
                    assert!(vfs.read_dir("/mnt").unwrap().len() >= 20);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(server.open_handles(), 0);
    vfs.umount("/mnt").unwrap();
    assert_eq!(*server.live_at_destroy.lock().unwrap(), [0]);
    assert_eq!(server.violations(), Vec::<String>::new());
}
