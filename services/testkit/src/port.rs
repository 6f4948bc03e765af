//! Loopback ports for tests.

use std::net::TcpListener;

/// A free loopback TCP port (bound, read back, released): for a child process that binds it
/// at once. Anything else may take it meanwhile; a port needed later is a [`HeldPort`].
pub fn free_port() -> u16 {
    milo_config::free_loopback_port().expect("a free loopback port")
}

/// A loopback port held until [`HeldPort::release`], for a broker the test starts later:
/// nothing else can take it meanwhile, and a client that connects before then gets no
/// answer, as from a broker that is down.
#[derive(Debug)]
pub struct HeldPort(TcpListener);

impl HeldPort {
    /// Holds a free loopback port.
    pub fn new() -> HeldPort {
        HeldPort(TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.0.local_addr().expect("a bound port").port()
    }

    /// Lets go of the port for whatever binds it next (right after this: the broker); clients
    /// connected meanwhile are reset and connect again.
    pub fn release(self) -> u16 {
        self.port()
    }
}

impl Default for HeldPort {
    fn default() -> Self {
        HeldPort::new()
    }
}
