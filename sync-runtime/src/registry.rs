//! The list of integrations a binary knows, looked up by name.

use std::sync::Arc;

use sync_sdk::{ErasedSync, Integration};

/// The integrations a `syncfn` binary was built with. A plain list: no link-time magic.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    integrations: Vec<Integration>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an integration (a later one with the same name replaces the earlier).
    pub fn register(mut self, integration: Integration) -> Self {
        self.integrations.retain(|i| i.name() != integration.name());
        self.integrations.push(integration);
        self
    }

    /// All integrations.
    pub fn integrations(&self) -> &[Integration] {
        &self.integrations
    }

    /// The integration named `name`.
    ///
    /// # Errors
    /// A message listing the available integrations.
    pub fn integration(&self, name: &str) -> Result<&Integration, String> {
        self.integrations
            .iter()
            .find(|i| i.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.integrations.iter().map(|i| i.name()).collect();
                format!(
                    "unknown integration {name:?} (available: {})",
                    names.join(", ")
                )
            })
    }

    /// Resolve `"integration/sync"`.
    ///
    /// # Errors
    /// A message naming what was not found and listing the valid choices.
    pub fn resolve(&self, reference: &str) -> Result<(&Integration, Arc<dyn ErasedSync>), String> {
        let Some((integration, sync)) = reference.split_once('/') else {
            return Err(format!(
                "{reference:?} is not of the form <integration>/<sync> (e.g. github/issues)"
            ));
        };
        let integration = self.integration(integration)?;
        let found = integration.find_sync(sync).cloned().ok_or_else(|| {
            let names: Vec<String> = integration.syncs().iter().map(|s| s.spec().name).collect();
            format!(
                "unknown sync {sync:?} in integration {:?} (available: {})",
                integration.name(),
                names.join(", ")
            )
        })?;
        Ok((integration, found))
    }
}
