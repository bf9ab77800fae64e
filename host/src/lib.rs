//! What runs on every machine of the fleet: the clients (`bt`, `bs`, `bl`, `push`, `fleet`),
//! the deploy agent that follows the box, and the wizard that joins a new machine
//! (`bootstrap-new-machine`). Talks to the box over HTTP only; never links the server side.

pub mod client;
pub mod deploy;
pub mod wizard;
