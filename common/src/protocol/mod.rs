//! The API's JSON shapes, defined once for the server and its clients (`bs`, the wizard, a
//! host's deploy), so both sides cannot drift apart: the server status and the fleet's host
//! objects and reports. Pure: no HTTP, no storage.

pub mod host;
pub mod status;
