//! SKELETON — to be replaced by the real pass.

use crate::pass::{Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;

pub static INFO: PassInfo = PassInfo {
    name: "dce",
    description: "Deletes instructions whose results are unused and that have no effects.",
    scope: Scope::Function,
    options: &[],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

fn create(_options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    Ok(Box::new(Skeleton))
}

struct Skeleton;

impl Pass for Skeleton {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }
}
