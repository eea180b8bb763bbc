use std::fmt;
use std::str::FromStr;

/// The receive path a user asks for (`--io`, `[proxy] io`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoMode {
    /// io_uring when this kernel and its policy allow it, `recvmmsg` otherwise.
    #[default]
    Auto,
    Uring,
    Recvmmsg,
}

/// The receive path a pool actually runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoBackend {
    Uring,
    Recvmmsg,
}

impl IoBackend {
    pub fn name(self) -> &'static str {
        match self {
            IoBackend::Uring => "io_uring",
            IoBackend::Recvmmsg => "recvmmsg",
        }
    }
}

impl fmt::Display for IoBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl IoMode {
    pub fn name(self) -> &'static str {
        match self {
            IoMode::Auto => "auto",
            IoMode::Uring => "uring",
            IoMode::Recvmmsg => "recvmmsg",
        }
    }
}

impl fmt::Display for IoMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An `--io` / `[proxy] io` value that names no receive path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown io mode {name:?}: choose auto, uring or recvmmsg")]
pub struct UnknownIoMode {
    pub name: String,
}

impl FromStr for IoMode {
    type Err = UnknownIoMode;

    fn from_str(text: &str) -> Result<IoMode, UnknownIoMode> {
        match text {
            "auto" => Ok(IoMode::Auto),
            "uring" | "io_uring" => Ok(IoMode::Uring),
            "recvmmsg" => Ok(IoMode::Recvmmsg),
            other => Err(UnknownIoMode {
                name: other.to_owned(),
            }),
        }
    }
}

/// Decides the backend: `Uring` fails with the reason when io_uring cannot run multishot
/// receives here; `Auto` falls back to `recvmmsg` and says why.
pub fn choose(mode: IoMode) -> std::io::Result<(IoBackend, Option<String>)> {
    match mode {
        IoMode::Recvmmsg => Ok((IoBackend::Recvmmsg, None)),
        IoMode::Uring => crate::uring::probe().map(|_| (IoBackend::Uring, None)),
        IoMode::Auto => match crate::uring::probe() {
            Ok(_) => Ok((IoBackend::Uring, None)),
            Err(error) => Ok((IoBackend::Recvmmsg, Some(error.to_string()))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_mode_and_rejects_others() {
        assert_eq!("auto".parse(), Ok(IoMode::Auto));
        assert_eq!("uring".parse(), Ok(IoMode::Uring));
        assert_eq!("io_uring".parse(), Ok(IoMode::Uring));
        assert_eq!("recvmmsg".parse(), Ok(IoMode::Recvmmsg));
        let error = "epoll".parse::<IoMode>().unwrap_err().to_string();
        assert!(error.contains("auto, uring or recvmmsg"), "{error}");
    }
}
