//! Helpers for integration tests: spawn real `rill` processes on free loopback
//! ports with their own temp dirs, and stop or kill them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "rill-test-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `rill keeper` child process on a free port, killed when dropped.
pub struct Keeper {
    pub port: u16,
    pub dir: TempDir,
    child: Option<Child>,
    bin: PathBuf,
}

impl Keeper {
    /// Starts `bin keeper --config <dir>/zoo.cfg` with `extra` config lines.
    pub fn start(bin: &Path, extra: &str) -> Self {
        let dir = TempDir::new("keeper");
        let port = free_port();
        let cfg = format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n{extra}\n",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("zoo.cfg"), cfg).expect("write zoo.cfg");
        let mut keeper = Keeper {
            port,
            dir,
            child: None,
            bin: bin.to_owned(),
        };
        keeper.restart();
        keeper
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// (Re)starts the process with the same config and waits until it answers.
    pub fn restart(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("keeper.log")).expect("log file");
        let child = Command::new(&self.bin)
            .arg("keeper")
            .arg("--config")
            .arg(self.dir.path().join("zoo.cfg"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn rill keeper");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if four_letter(&self.address(), "ruok").as_deref() == Some("imok") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("rill keeper did not start; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("keeper.log")).unwrap_or_default()
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a four-letter word and returns the answer, or `None` if unreachable.
pub fn four_letter(address: &str, word: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).ok()?;
    Some(out)
}
