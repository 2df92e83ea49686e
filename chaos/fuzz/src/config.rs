//! The `--config` file: only operators write it, but a reload reads
//! whatever is on disk, and a broken file must be an error, never a crash.

use std::path::Path;

use signpost_dispatcher::config::{Args, Config, FileConfig};
use signpost_shared::validate_url;

/// `data` as a TOML config file: it parses and resolves to a `Config` or
/// to errors whose text can be printed; an accepted config has only valid
/// backend URLs.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = match FileConfig::parse(Path::new("fuzz.toml"), text) {
        Ok(file) => file,
        Err(err) => {
            let _ = err.to_string();
            return;
        }
    };
    match Config::try_from((&Args::default(), &file)) {
        Ok(config) => {
            for backend in &config.backends {
                if let Some(url) = &backend.url {
                    assert_eq!(validate_url(url), Ok(()), "{url:?} accepted");
                }
            }
        }
        Err(errors) => {
            let _ = errors.to_string();
        }
    }
}
