//! The dispatcher's two listeners: the public one that redirects every
//! request, and the control one for operators and agents.

pub mod control;
mod error;
mod page;
pub mod redirect;
pub mod tls;

pub use error::ApiError;
