//! What the strict buyers expect in place of keys and passwords, and where they read it.

/// The names of the secrets the strict buyers check, as the engine's configuration names
/// them (`secret('crestline_api_token')`, or the variable `PINGPOST_SECRET_CRESTLINE_API_TOKEN`).
pub const SECRET_NAMES: [&str; 3] = ["crestline_api_token", "ridgeline_password", "pinecrest_api_key"];

/// What the strict buyers expect in place of a key or a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// `ApiToken` in `crestline`'s bodies; the secret `crestline_api_token`.
    pub crestline_api_token: String,
    /// `ridgeline`'s Basic auth user name: it names the marketplace, it is no secret.
    pub ridgeline_username: String,
    /// `ridgeline`'s Basic auth password; the secret `ridgeline_password`.
    pub ridgeline_password: String,
    /// `source.api_key` in `pinecrest`'s XML; the secret `pinecrest_api_key`.
    pub pinecrest_api_key: String,
}

impl Credentials {
    /// The demo values, used where nothing else is configured. They are made to look like
    /// what they are, so that no one mistakes them for a real buyer's key.
    pub fn demo() -> Self {
        Credentials {
            crestline_api_token: "demo-crestline-api-token".into(),
            ridgeline_username: "pingpost".into(),
            ridgeline_password: "demo-ridgeline-password".into(),
            pinecrest_api_key: "demo-pinecrest-api-key".into(),
        }
    }

    /// Each secret from `PINGPOST_SECRET_<NAME>` — the variable the engine reads the same
    /// secret from, so one `export` serves both — else its demo value.
    pub fn from_env() -> Self {
        Credentials::from_lookup(|var| std::env::var(var).ok())
    }

    /// As [`Credentials::from_env`], with `lookup` in place of the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut credentials = Credentials::demo();
        for name in SECRET_NAMES {
            if let Some(value) = lookup(&Credentials::env_var(name)).filter(|v| !v.is_empty()) {
                *credentials.secret_mut(name) = value;
            }
        }
        credentials
    }

    /// The environment variable a secret is read from: `PINGPOST_SECRET_<NAME>`.
    pub fn env_var(secret: &str) -> String {
        format!("PINGPOST_SECRET_{}", secret.to_ascii_uppercase())
    }

    /// A secret's expected value by its name; `None` for a name not in [`SECRET_NAMES`].
    pub fn secret(&self, name: &str) -> Option<&str> {
        match name {
            "crestline_api_token" => Some(&self.crestline_api_token),
            "ridgeline_password" => Some(&self.ridgeline_password),
            "pinecrest_api_key" => Some(&self.pinecrest_api_key),
            _ => None,
        }
    }

    fn secret_mut(&mut self, name: &str) -> &mut String {
        match name {
            "crestline_api_token" => &mut self.crestline_api_token,
            "ridgeline_password" => &mut self.ridgeline_password,
            _ => &mut self.pinecrest_api_key,
        }
    }
}
