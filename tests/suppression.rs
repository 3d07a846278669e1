//! Suppression: add, remove, check and bulk import, through the admin API and the CLI.
