//! Case categories and their codes (GB/T 30428.2 / CJ/T 214-2007 event classes as city platforms use
//! them).

use crate::rules::Category;

/// Whether a category is an event (事件: something happening) or a component (部件: a piece of city
/// furniture in a bad state). The two have separate code lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    /// 事件.
    Event,
    /// 部件.
    Component,
}

/// A category's entry in the taxonomy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaxonomyEntry {
    /// Event or component.
    pub kind: ItemKind,
    /// Standard code.
    pub code: &'static str,
    /// Standard Chinese name.
    pub name: &'static str,
}

/// The taxonomy entry of a category.
pub const fn entry(category: Category) -> TaxonomyEntry {
    match category {
        Category::IllegalConstruction => TaxonomyEntry { kind: ItemKind::Event, code: "0101", name: "私搭乱建" },
        Category::Litter => TaxonomyEntry { kind: ItemKind::Event, code: "0102", name: "暴露垃圾" },
        Category::IllegalParking => TaxonomyEntry { kind: ItemKind::Event, code: "0505", name: "机动车乱停放" },
        // 公用设施 (01) components; the utility-specific small class (上水, 污水, 雨水 ...) comes with the
        // configurable taxonomy, 01xx with xx = 01 until then.
        Category::ManholeCover => TaxonomyEntry { kind: ItemKind::Component, code: "0101", name: "井盖" },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_standard_catalogue() {
        assert_eq!(entry(Category::IllegalParking).code, "0505");
        assert_eq!(entry(Category::Litter).code, "0102");
        assert_eq!(entry(Category::IllegalConstruction).code, "0101");
        assert_eq!(entry(Category::ManholeCover).kind, ItemKind::Component);
    }
}
