//! How outbound HTTP reaches the network: name resolution and TCP connect,
//! behind a trait so tests can answer names as they like (a rebinding
//! resolver) and see which addresses are dialled, without a packet leaving
//! the machine.

use std::io;
use std::net::SocketAddr;

use futures::future::BoxFuture;
use tokio::net::TcpStream;

/// Name resolution and TCP connect for outbound HTTP.
pub(crate) trait Network: Send + Sync {
    /// The addresses `host` resolves to, for `port`.
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>>;

    /// A TCP connection to exactly `addr`.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<TcpStream>>;
}

/// The machine's resolver (`getaddrinfo`, through tokio) and a plain connect.
pub(crate) struct SystemNetwork;

impl Network for SystemNetwork {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        let host = host.to_string();
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), port)).await?.collect()) })
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<TcpStream>> {
        Box::pin(TcpStream::connect(addr))
    }
}
