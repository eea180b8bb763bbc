//! A real S3 server for tests: moto's standalone server (`pip install 'moto[server]'`, done by
//! `cargo xtask test`) on a free port, killed when dropped. Included with `#[path]`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytefreezer_storage::S3Settings;

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3 for moto's S3 server: {e}"));
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto's S3 server did not start on port {port}: run `cargo xtask install-test-deps` \
                 (it installs `moto[server]` from PyPI), or `pip install 'moto[server]'`"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Creates buckets with plain S3 `PUT /{bucket}` requests (moto does not check signatures).
    pub fn create_buckets(&self, names: &[&str]) {
        for name in names {
            let status = Command::new("python3")
                .args([
                    "-c",
                    "import sys, urllib.request; \
                     urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='PUT'))",
                    &format!("{}/{name}", self.endpoint),
                ])
                .status()
                .unwrap();
            assert!(status.success(), "cannot create bucket {name} on moto");
        }
    }

    pub fn settings(&self, prefix: &str) -> S3Settings {
        let names = ["intake", "piper", "packer"].map(|role| format!("{prefix}-{role}"));
        self.create_buckets(&names.each_ref().map(String::as_str));
        let [intake_bucket, piper_bucket, packer_bucket] = names;
        S3Settings {
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            intake_bucket,
            piper_bucket,
            packer_bucket,
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            path_style: None,
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
