//! Agents on a Unix domain socket: `DD_TRACE_AGENT_URL=unix:///var/run/datadog/apm.socket`, the
//! usual Kubernetes set-up, where the Agent's socket is mounted into the application's pod.
//!
//! ureq speaks HTTP over any transport its connector API gives it: this connector opens the
//! socket file instead of a TCP connection, and requests go to `http://localhost/...` with the
//! socket carrying them (the host name is resolved but never connected to). Timeouts are the
//! client's, as over TCP.

#[cfg(unix)]
use std::io::{self, Read, Write};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

#[cfg(unix)]
use ureq::unversioned::resolver::DefaultResolver;
#[cfg(unix)]
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};
#[cfg(unix)]
use ureq::Error;

/// The URL prefix of an Agent on a Unix socket.
pub(crate) const SCHEME: &str = "unix://";

/// The origin requests name when they go through a socket.
pub(crate) const ORIGIN: &str = "http://localhost";

/// The socket path of a `unix://` Agent URL.
pub(crate) fn socket_path(agent_url: &str) -> Option<PathBuf> {
    agent_url.strip_prefix(SCHEME).map(PathBuf::from)
}

/// For an Agent URL: the HTTP origin to request, and, for a `unix://` one, the socket.
pub(crate) fn origin(agent_url: &str) -> (&str, Option<PathBuf>) {
    match socket_path(agent_url) {
        Some(path) => (ORIGIN, Some(path)),
        None => (agent_url, None),
    }
}

/// An HTTP client from `config` that connects to `socket` when given, over TCP otherwise.
pub(crate) fn agent(config: ureq::config::Config, socket: Option<PathBuf>) -> ureq::Agent {
    match socket {
        #[cfg(unix)]
        Some(path) => {
            ureq::Agent::with_parts(config, UnixConnector { path }, DefaultResolver::default())
        }
        // `Config::validate` refuses unix:// where there are no Unix sockets.
        _ => ureq::Agent::new_with_config(config),
    }
}

#[cfg(unix)]
#[derive(Debug)]
struct UnixConnector {
    path: PathBuf,
}

#[cfg(unix)]
impl<In: Transport> Connector<In> for UnixConnector {
    type Out = UnixTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<In>,
    ) -> Result<Option<Self::Out>, Error> {
        let stream = UnixStream::connect(&self.path).map_err(|e| {
            Error::Io(io::Error::new(
                e.kind(),
                format!("the Agent's socket {}: {e}", self.path.display()),
            ))
        })?;
        let config = details.config;
        Ok(Some(UnixTransport {
            stream,
            buffers: LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size()),
        }))
    }
}

#[cfg(unix)]
#[derive(Debug)]
struct UnixTransport {
    stream: UnixStream,
    buffers: LazyBuffers,
}

#[cfg(unix)]
fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

#[cfg(unix)]
impl Transport for UnixTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        let timeout = timeout.for_write();
        self.stream
            .set_write_timeout(timeout.not_zero().map(|t| *t))?;
        let output = &self.buffers.output()[..amount];
        match self.stream.write_all(output) {
            Ok(()) => Ok(()),
            Err(e) if timed_out(&e) => Err(Error::Timeout(timeout.reason)),
            Err(e) => Err(e.into()),
        }
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        let timeout = timeout.for_read();
        self.stream
            .set_read_timeout(timeout.not_zero().map(|t| *t))?;
        let input = self.buffers.input_append_buf();
        let amount = loop {
            match self.stream.read(input) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if timed_out(&e) => return Err(Error::Timeout(timeout.reason)),
                Err(e) => return Err(e.into()),
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        // An idle pooled connection has nothing to read: a read that would block means open;
        // 0 bytes means the Agent closed it, and unexpected bytes mean it cannot be reused.
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let mut b = [0u8; 1];
        let open =
            matches!(self.stream.read(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        let _ = self.stream.set_nonblocking(false);
        open
    }
}
