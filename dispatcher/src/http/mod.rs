//! The dispatcher's two listeners: the public one that redirects every
//! request, and the control one for operators and agents.

pub mod control;
mod error;
pub mod redirect;

pub use error::ApiError;
