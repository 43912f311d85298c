//! What every end-to-end test needs: the workspace's binaries and free loopback ports.

use std::path::{Path, PathBuf};

/// A binary of the workspace, next to this test's build output
/// (target/debug/deps/e2e-* -> target/debug/NAME).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("the test binary lives in target/<profile>/deps");
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run `make build` (`cargo build --workspace --bins --features bcdr/demo`) first",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap().local_addr().unwrap().port()
}
