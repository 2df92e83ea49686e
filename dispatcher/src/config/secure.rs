//! Closed by default: the rules that keep the control listener from
//! handing the pool to whoever can reach it.
//!
//! Whoever can push a report decides where clients go, and whoever can call
//! the admin API can drain the fleet. On loopback only the machine's own
//! users can do either, so tokens are optional there. Beyond loopback a
//! push token and a distinct admin token are required, each at least
//! [`MIN_TOKEN_LEN`] bytes, unless the operator opts out with
//! `--insecure-open-control` (logged at every start) or lets the admin API
//! take the push token with `--admin-uses-push-token`. Anywhere, a secret
//! that still holds a placeholder shipped in `deploy/` is refused.

use std::net::{IpAddr, SocketAddr};

use signpost_shared::{MIN_TOKEN_LEN, PLACEHOLDER, is_placeholder};

use super::resolve::{Resolver, Val};
use super::{AllowList, BackendPattern, Config};

/// How the messages tell an operator to make a secret.
pub(super) use signpost_shared::MAKE_TOKEN as MAKE_SECRET;

// === impl Resolver ===

impl Resolver<'_> {
    /// The push token, the admin token in force and whether the control
    /// listener may stay open, checked against the listener's reach.
    pub(super) fn control_tokens(
        &self,
        control: &Val<SocketAddr>,
    ) -> (Option<String>, Option<String>, bool) {
        let token = self.pick(
            "token",
            self.args.token.clone().map(Some),
            &self.file.token,
            None,
        );
        let admin = self.pick(
            "admin_token",
            self.args.admin_token.clone().map(Some),
            &self.file.admin_token,
            None,
        );
        let shared = self.pick(
            "admin_uses_push_token",
            self.args.admin_uses_push_token,
            &self.file.admin_uses_push_token,
            false,
        );
        let insecure = self.pick(
            "insecure_open_control",
            self.args.insecure_open_control,
            &self.file.insecure_open_control,
            false,
        );
        if !is_loopback(control.value.ip()) && !insecure.value {
            self.closed(control, &token, &admin, shared.value);
        }
        let token = self.secret(token, 1);
        let admin = self.secret(admin, 1);
        let admin = admin.or_else(|| token.clone().filter(|_| shared.value));
        (token, admin, insecure.value)
    }

    /// The `--allow-backend` patterns, or else the file's list.
    pub(super) fn allow_backend(&self) -> AllowList {
        AllowList(self.list(
            "allow_backend",
            &self.args.allow_backend,
            &self.file.allow_backend,
            str::parse::<BackendPattern>,
        ))
    }

    /// The rules of a control listener beyond loopback.
    fn closed(
        &self,
        control: &Val<SocketAddr>,
        token: &Val<Option<String>>,
        admin: &Val<Option<String>>,
        shared: bool,
    ) {
        let at = control.value;
        let opt_out = "or pass --insecure-open-control to serve it without";
        match &token.value {
            None => self.fail(
                control,
                format!(
                    "{at} is not loopback, so agents must push with a token: set --token \
                     (make one with `{MAKE_SECRET}`), {opt_out}"
                ),
            ),
            Some(_) => self.long_enough(token),
        }
        match &admin.value {
            None if !shared => self.fail(
                control,
                format!(
                    "{at} is not loopback, so the admin API needs a token: set --admin-token \
                     (make one with `{MAKE_SECRET}`), or --admin-uses-push-token to let the \
                     push token serve, {opt_out}"
                ),
            ),
            Some(value) if !shared && token.value.as_ref() == Some(value) => self.fail(
                admin,
                format!(
                    "equals the push token: make a distinct one with `{MAKE_SECRET}`, or set \
                     --admin-uses-push-token (and no --admin-token) to share it on purpose"
                ),
            ),
            Some(_) => self.long_enough(admin),
            None => {}
        }
    }

    /// Checks that a token guarding a listener beyond loopback is long
    /// enough to resist guessing.
    fn long_enough(&self, val: &Val<Option<String>>) {
        let len = val.value.as_ref().map_or(0, String::len);
        self.require(val, len >= MIN_TOKEN_LEN, || {
            format!(
                "must be at least {MIN_TOKEN_LEN} bytes long on a control listener beyond \
                 loopback, got {len}: make one with `{MAKE_SECRET}`"
            )
        });
    }

    /// Refuses a secret that still holds a placeholder from `deploy/`.
    pub(super) fn not_placeholder(&self, val: &Val<Option<String>>) {
        let placeholder = val.value.as_deref().is_some_and(is_placeholder);
        self.require(val, !placeholder, || {
            format!(
                "is a placeholder from the examples (it contains {PLACEHOLDER:?}): make a real \
                 one with `{MAKE_SECRET}`"
            )
        });
    }
}

// === impl Config ===

impl Config {
    /// What an operator should hear at every start about how exposed the
    /// control listener is, one warning per line.
    pub fn security_warnings(&self) -> Vec<String> {
        let at = self.control_listen;
        if is_loopback(at.ip()) {
            return Vec::new();
        }
        let mut warnings = Vec::new();
        if self.insecure_open_control {
            warnings.push(format!(
                "--insecure-open-control: the control listener on {at} is not loopback and \
                 {}; anyone who reaches it can send every client anywhere",
                match (&self.token, &self.admin_token) {
                    (Some(_), Some(_)) => "its tokens are not checked for strength",
                    _ => "takes pushes or admin calls without a token",
                }
            ));
        }
        if self.allow_backend.is_empty() {
            warnings.push(format!(
                "no --allow-backend: a report pushed to {at} may send clients to any URL; \
                 set --allow-backend to your backends' network (such as the pod CIDR)"
            ));
        }
        warnings
    }
}

/// Whether `ip` is only reachable from this machine (an IPv4-mapped
/// loopback address included).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Args, FileConfig};
    use super::*;

    const STRONG: &str = "0123456789abcdef0123";
    const OTHER: &str = "fedcba9876543210fedc";

    fn load(text: &str) -> Result<Config, String> {
        let file = FileConfig::parse(Path::new("t.toml"), text).map_err(|e| e.to_string())?;
        Config::try_from((&Args::default(), &file)).map_err(|e| e.to_string())
    }

    fn open(extra: &str) -> String {
        format!("control_listen = \"0.0.0.0:9100\"\n{extra}")
    }

    #[test]
    fn beyond_loopback_both_tokens_are_required_and_strong() {
        let err = load(&open("")).unwrap_err();
        assert!(err.contains("t.toml:1: control_listen: 0.0.0.0:9100 is not loopback, so agents must push with a token: set --token (make one with `openssl rand -hex 32`), or pass --insecure-open-control"), "{err}");
        assert!(err.contains("so the admin API needs a token"), "{err}");
        let err = load(&open("token = \"short\"\nadmin_token = \"tiny\"")).unwrap_err();
        assert!(err.contains("t.toml:2: token: must be at least 16 bytes long on a control listener beyond loopback, got 5"), "{err}");
        assert!(
            err.contains("t.toml:3: admin_token: must be at least 16 bytes"),
            "{err}"
        );
        let same = format!("token = \"{STRONG}\"\nadmin_token = \"{STRONG}\"");
        let err = load(&open(&same)).unwrap_err();
        assert!(
            err.contains("t.toml:3: admin_token: equals the push token"),
            "{err}"
        );
        let config = load(&open(&format!(
            "token = \"{STRONG}\"\nadmin_token = \"{OTHER}\""
        )))
        .unwrap();
        assert_eq!(config.admin_token.as_deref(), Some(OTHER));
        assert_eq!(
            config.security_warnings().len(),
            1,
            "only the missing allow-list"
        );
    }

    #[test]
    fn the_admin_api_takes_the_push_token_only_when_told() {
        let text = format!("token = \"{STRONG}\"\nadmin_uses_push_token = true");
        let config = load(&open(&text)).unwrap();
        assert_eq!(config.admin_token.as_deref(), Some(STRONG));
        let same = format!("{text}\nadmin_token = \"{STRONG}\"");
        assert!(load(&open(&same)).is_ok());
        // On loopback the flag shares the token too; without it, no admin token.
        assert_eq!(load(&text).unwrap().admin_token.as_deref(), Some(STRONG));
        let config = load(&format!("token = \"{STRONG}\"")).unwrap();
        assert_eq!(config.admin_token, None);
    }

    #[test]
    fn insecure_open_control_opens_it_and_warns() {
        let config = load(&open("insecure_open_control = true")).unwrap();
        let warnings = config.security_warnings();
        assert!(warnings[0].starts_with("--insecure-open-control: the control listener on 0.0.0.0:9100 is not loopback and takes pushes or admin calls without a token"), "{warnings:?}");
        assert!(
            warnings[1].starts_with("no --allow-backend"),
            "{warnings:?}"
        );
        let listed = load(&open(
            "insecure_open_control = true\nallow_backend = [\"10.0.0.0/8\"]",
        ));
        assert_eq!(listed.unwrap().security_warnings().len(), 1);
    }

    #[test]
    fn loopback_takes_short_tokens_but_never_a_placeholder() {
        let config = load("token = \"s3cret\"\nadmin_token = \"adm1n\"").unwrap();
        assert!(config.security_warnings().is_empty());
        for key in ["token", "admin_token", "cookie_secret"] {
            let err = load(&format!("{key} = \"demo-token-CHANGE-ME-please\"")).unwrap_err();
            assert!(err.contains(&format!("t.toml:1: {key}: is a placeholder from the examples (it contains \"change-me\"): make a real one with `openssl rand -hex 32`")), "{err}");
        }
        let err = load("cookie_secret = \"x\"").unwrap_err();
        assert!(
            err.contains("got 1: make one with `openssl rand -hex 32`"),
            "{err}"
        );
    }

    #[test]
    fn allow_backend_patterns_are_parsed_and_bad_ones_named() {
        let config = load("allow_backend = [\"10.0.0.0/8\", \"*.pods.example\"]").unwrap();
        assert!(config.allow_backend.permits("http://10.2.3.4:8000"));
        assert!(config.allow_backend.permits("http://a.pods.example"));
        assert!(!config.allow_backend.permits("https://evil.example"));
        let err = load("allow_backend = [\"10.0.0.0/8\", \"ftp://x\"]").unwrap_err();
        assert!(
            err.contains("t.toml:1: allow_backend[1]: invalid backend pattern \"ftp://x\""),
            "{err}"
        );
        assert_eq!(load("").unwrap().max_nodes, 10_000);
        let err = load("max_nodes = 0").unwrap_err();
        assert!(
            err.contains("max_nodes: must be between 1 and 1000000, got 0"),
            "{err}"
        );
    }
}
