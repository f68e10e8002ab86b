//! Capture of every log line the process writes, so the conformance suite can search them for
//! secrets. Tests of one binary run on several threads and a sync's fetch task runs on the
//! runtime's workers, so the capture is a process-wide subscriber installed once.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

static CAPTURE: OnceLock<Result<Buffer, String>> = OnceLock::new();

/// Install the capture (once per process).
///
/// # Errors
/// Another global subscriber was installed first, so logs cannot be seen.
pub(crate) fn install() -> Result<(), String> {
    CAPTURE
        .get_or_init(|| {
            let buffer = Buffer::default();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    "trace,hyper=debug,hyper_util=debug,h2=info,rustls=info",
                ))
                .with_ansi(false)
                .with_writer(buffer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .map(|()| buffer)
                .map_err(|_| {
                    "cannot capture logs: another global tracing subscriber is installed in this \
                     test binary"
                        .to_string()
                })
        })
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

/// Byte offset of the end of the captured log so far.
pub(crate) fn position() -> usize {
    match CAPTURE.get() {
        Some(Ok(b)) => b.0.lock().unwrap_or_else(|p| p.into_inner()).len(),
        _ => 0,
    }
}

/// Lines captured after `from` that contain `needle`.
pub(crate) fn lines_containing(from: usize, needle: &str) -> Vec<String> {
    let Some(Ok(buffer)) = CAPTURE.get() else {
        return Vec::new();
    };
    let bytes = buffer.0.lock().unwrap_or_else(|p| p.into_inner());
    let text = String::from_utf8_lossy(&bytes[from.min(bytes.len())..]).into_owned();
    text.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}
