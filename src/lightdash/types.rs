//! Serde types for the Lightdash API, written to survive version drift. No I/O.
//!
//! Every struct tolerates unknown fields and most fields are optional, because Lightdash adds,
//! removes and loosens fields between releases (see `shared/reference/lightdash-api.md` §7).
//! Enums that Lightdash grows over time (tile types, chart kinds, filter operators) are
//! [`string_enum!`] types with an `Unknown(Box<str>)` catch-all, so a new variant never fails a
//! cycle. The detail types ([`ChartDetails`], [`DashboardDetails`]) accept both the
//! content-as-code shape and the legacy `GET /saved/{uuid}` / `GET /dashboards/{uuid}` shape,
//! and are also what the state keeps to re-render an asset without fetching it again, so they
//! serialize back to the same camelCase names.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::presentation::lenient as lenient_field;
pub use super::presentation::{
    Axis, ColumnProperties, ConfigLabels, CustomSpec, ExploreJoin, FieldReference, SeriesEncode,
    TableCalculationTemplate, TemplateOrder,
};

/// Defines a string enum with known variants and an `Unknown(Box<str>)` catch-all that keeps
/// the original value, so serialization round-trips whatever the server sent.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "`")]
                $variant,
            )*
            /// A value this build does not know; kept verbatim (boxed: 16 bytes rather than
            /// 24, as enums of this kind sit in every listed item).
            Unknown(Box<str>),
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Unknown(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($text => Self::$variant,)*
                    other => Self::Unknown(other.into()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // A visitor rather than `String::deserialize`: a known value costs no
                // allocation (these sit in every listed item).
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$name, E> {
                        Ok($name::from(s))
                    }
                }
                d.deserialize_str(V)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// `OrganizationProject.type`.
    ProjectType { Default = "DEFAULT", Preview = "PREVIEW" }
);

string_enum!(
    /// `ChartKind`: the visual kind shown in the chart list.
    ChartKind {
        Line = "line",
        HorizontalBar = "horizontal_bar",
        VerticalBar = "vertical_bar",
        Scatter = "scatter",
        Area = "area",
        Mixed = "mixed",
        Pie = "pie",
        Table = "table",
        BigNumber = "big_number",
        Funnel = "funnel",
        Custom = "custom",
        Treemap = "treemap",
        Gauge = "gauge",
        Map = "map",
    }
);

string_enum!(
    /// `ChartType`: the family of `chartConfig`.
    ChartType {
        Cartesian = "cartesian",
        Table = "table",
        BigNumber = "big_number",
        Pie = "pie",
        Funnel = "funnel",
        Custom = "custom",
        Treemap = "treemap",
        Gauge = "gauge",
        Map = "map",
    }
);

string_enum!(
    /// `SpaceQuery.source` of a listed chart: where its query comes from (`ChartSourceType`,
    /// `packages/common/src/types/content.ts`); newer servers list SQL-runner charts with
    /// `sql`.
    ChartSource { DbtExplore = "dbt_explore", Sql = "sql" }
);

string_enum!(
    /// Dashboard tile `type`.
    TileType {
        SavedChart = "saved_chart",
        SqlChart = "sql_chart",
        SemanticViewerChart = "semantic_viewer_chart",
        Markdown = "markdown",
        Loom = "loom",
        Heading = "heading",
        DataApp = "data_app",
    }
);

string_enum!(
    /// Filter rule `operator` (`ConditionalOperator`).
    FilterOperator {
        IsNull = "isNull",
        NotNull = "notNull",
        Equals = "equals",
        NotEquals = "notEquals",
        StartsWith = "startsWith",
        EndsWith = "endsWith",
        Include = "include",
        DoesNotInclude = "doesNotInclude",
        LessThan = "lessThan",
        LessThanOrEqual = "lessThanOrEqual",
        GreaterThan = "greaterThan",
        GreaterThanOrEqual = "greaterThanOrEqual",
        InThePast = "inThePast",
        NotInThePast = "notInThePast",
        InTheNext = "inTheNext",
        InTheCurrent = "inTheCurrent",
        NotInTheCurrent = "notInTheCurrent",
        InBetween = "inBetween",
        NotInBetween = "notInBetween",
    }
);

impl Default for ChartType {
    fn default() -> Self {
        Self::Unknown(Box::default())
    }
}

impl Default for TileType {
    fn default() -> Self {
        Self::Unknown(Box::default())
    }
}

impl Default for FilterOperator {
    fn default() -> Self {
        Self::Unknown(Box::default())
    }
}

/// Deserializes `null` as the type's default, for fields Lightdash sends as `null` or omits.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `GET /api/v1/health` results.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Health {
    /// Whether the backend reports itself healthy.
    pub healthy: bool,
    /// Lightdash version string (numbering changed over time; compare per component).
    pub version: Option<String>,
    /// The site's public URL, the right base for deep links.
    pub site_url: Option<String>,
    /// Whether the request's credentials were accepted.
    pub is_authenticated: bool,
}

/// `GET /api/v1/org/projects` item.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Project uuid.
    pub project_uuid: String,
    /// Display name; the first element of every folder path.
    pub name: String,
    /// DEFAULT or PREVIEW (preview projects are skipped unless listed explicitly).
    #[serde(rename = "type", default = "default_project_type")]
    pub project_type: ProjectType,
}

fn default_project_type() -> ProjectType {
    ProjectType::Default
}

/// `GET /api/v1/projects/{p}/spaces` item (`SpaceSummary`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SpaceSummary {
    /// Space uuid.
    pub uuid: String,
    /// Display name.
    pub name: String,
    /// Slug; optional because very old servers may omit it.
    #[serde(default)]
    pub slug: Option<String>,
    /// Private spaces (and their content) are never sent unless `include_private`.
    #[serde(default, deserialize_with = "null_default")]
    pub is_private: bool,
    /// Parent space for nested spaces; absent on old servers, `null` for a root space.
    #[serde(default)]
    pub parent_space_uuid: Option<String>,
    /// ltree path (`shared.demo_space.sales`); absent on old servers.
    #[serde(default)]
    pub path: Option<String>,
    /// Newer servers: whether the space takes its access from its parent (a root space: from
    /// the project). `false` means open to its own members only. Absent on older servers.
    /// (`packages/common/src/types/space.ts` `Space.inheritParentPermissions`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit_parent_permissions: Option<bool>,
    /// Newest servers: the resolved answer, `true` when the chain of inheriting spaces reaches
    /// a root that inherits from the project (`packages/backend/src/models/SpacePermissionModel.ts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherits_from_org_or_project: Option<bool>,
    /// Number of dashboards, as Lightdash counts them.
    #[serde(default, deserialize_with = "null_default")]
    pub dashboard_count: u64,
    /// Number of charts, as Lightdash counts them.
    #[serde(default, deserialize_with = "null_default")]
    pub chart_count: u64,
}

/// The user who last updated an item.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct UserRef {
    /// User uuid.
    pub user_uuid: Option<Box<str>>,
    /// First name.
    pub first_name: Option<Box<str>>,
    /// Last name.
    pub last_name: Option<Box<str>>,
}

impl UserRef {
    /// "First Last", or `None` when neither name is known.
    pub fn display_name(&self) -> Option<String> {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (!name.is_empty()).then_some(name)
    }
}

/// A [`UserRef`] that many listed items name: an organisation of 100,000 assets has a few
/// hundred editors, so a listing decoded through [`intern_users`] holds each of them once
/// and every item an 8-byte handle. Serializes and deserializes exactly as [`UserRef`].
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct SharedUser(std::sync::Arc<UserRef>);

impl std::ops::Deref for SharedUser {
    type Target = UserRef;
    fn deref(&self) -> &UserRef {
        &self.0
    }
}

impl std::fmt::Debug for SharedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<UserRef> for SharedUser {
    fn from(u: UserRef) -> Self {
        Self(std::sync::Arc::new(u))
    }
}

impl Serialize for SharedUser {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedUser {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let user = UserRef::deserialize(d)?;
        Ok(USERS.with(|users| match users.borrow_mut().as_mut() {
            Some(set) => match set.get(&user) {
                Some(shared) => Self(shared.clone()),
                None => {
                    let shared = std::sync::Arc::new(user);
                    set.insert(shared.clone());
                    Self(shared)
                }
            },
            None => Self::from(user),
        }))
    }
}

/// Users of one listing (a few hundred, looked up once per item: foldhash, not SipHash).
pub type UserSet = std::collections::HashSet<std::sync::Arc<UserRef>, foldhash::fast::RandomState>;

thread_local! {
    /// The users of the listing being decoded on this thread, when it is decoded through
    /// [`intern_users`].
    static USERS: std::cell::RefCell<Option<UserSet>> = const { std::cell::RefCell::new(None) };
}

/// Runs `decode` (decoding on this thread) with `users` as the set equal [`SharedUser`]s are
/// shared through; the set is handed back afterwards, to be used again for the next item of
/// the same listing.
pub fn intern_users<R>(users: &mut UserSet, decode: impl FnOnce() -> R) -> R {
    let previous = USERS.with(|cell| cell.replace(Some(std::mem::take(users))));
    let out = decode();
    *users = USERS
        .with(|cell| cell.replace(previous))
        .unwrap_or_default();
    out
}

/// `GET /api/v1/projects/{p}/dashboards` item (`DashboardBasicDetailsWithTileTypes`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DashboardSummary {
    /// Dashboard uuid.
    pub uuid: String,
    /// Display name.
    pub name: String,
    /// Optional description.
    #[serde(default)]
    pub description: Option<Box<str>>,
    /// Space holding the dashboard.
    pub space_uuid: String,
    /// Time of the latest *versioned* edit (tiles, filters, tabs); renames do not bump it.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Who made the latest versioned edit.
    #[serde(default)]
    pub updated_by_user: Option<SharedUser>,
    /// Total recorded views.
    #[serde(default, deserialize_with = "null_default")]
    pub views: u64,
    /// Slug (newer servers); needed to match as-code results to uuids.
    #[serde(default)]
    pub slug: Option<Box<str>>,
    /// Types of its tiles (`DashboardBasicDetailsWithTileTypes.tileTypes`): tells which
    /// dashboards hold SQL-chart tiles without fetching them.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "<[TileType]>::is_empty"
    )]
    pub tile_types: Box<[TileType]>,
    /// Newest servers: who verified it and when (`null` when not verified).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub verification: Option<Box<Verification>>,
    /// Newest servers: resolved access of its space chain (`false`: restricted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherits_from_org_or_project: Option<bool>,
}

/// `GET /api/v1/projects/{p}/charts` item (`SpaceQuery`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ChartSummary {
    /// Chart uuid.
    pub uuid: String,
    /// Display name.
    pub name: String,
    /// Optional description.
    #[serde(default)]
    pub description: Option<Box<str>>,
    /// Slug; the identity used by the as-code endpoints.
    #[serde(default)]
    pub slug: Option<Box<str>>,
    /// Space holding the chart.
    pub space_uuid: String,
    /// Set when the chart is saved inside a dashboard.
    #[serde(default)]
    pub dashboard_uuid: Option<Box<str>>,
    /// Name of that dashboard.
    #[serde(default)]
    pub dashboard_name: Option<Box<str>>,
    /// Time of the latest versioned edit of the chart.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Who made it.
    #[serde(default)]
    pub updated_by_user: Option<SharedUser>,
    /// Total recorded views.
    #[serde(default, deserialize_with = "null_default")]
    pub views: u64,
    /// Visual kind (line, vertical_bar, ...).
    #[serde(default)]
    pub chart_kind: Option<ChartKind>,
    /// Config family (cartesian, table, ...).
    #[serde(default)]
    pub chart_type: Option<ChartType>,
    /// `dbt_explore` or `sql` (others may appear). Newer servers list SQL-runner charts here
    /// with `sql`; their details come from the SQL-chart routes.
    #[serde(default)]
    pub source: Option<ChartSource>,
    /// Newest servers: who verified it and when (`null` when not verified).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub verification: Option<Box<Verification>>,
    /// Newest servers: resolved access of its space chain (`false`: restricted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherits_from_org_or_project: Option<bool>,
}

impl ChartSummary {
    /// Whether this is a SQL-runner chart (`source: "sql"`).
    pub fn is_sql(&self) -> bool {
        self.source == Some(ChartSource::Sql)
    }
}

/// `ContentVerificationInfo` (`packages/common/src/types/contentVerification.ts`): who verified
/// a chart or dashboard, and when. Verifying does not move `updatedAt`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Verification {
    /// The verifier.
    pub verified_by: Option<UserRef>,
    /// When (ISO-8601).
    pub verified_at: Option<String>,
}

/// One item of `GET /api/v1/projects/{p}/content-verification` (`VerifiedContentListItem`,
/// `packages/common/src/types/contentVerification.ts`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct VerifiedContent {
    /// The verified chart's or dashboard's uuid (`uuid` is the verification's own id).
    pub content_uuid: String,
    /// `chart` or `dashboard`.
    pub content_type: Option<String>,
    /// The verifier.
    pub verified_by: Option<UserRef>,
    /// When.
    pub verified_at: Option<String>,
}

/// One item of the trash, `GET /api/v2/content/deleted` (`DeletedContentSummary`,
/// `packages/common/src/types/softDelete.ts`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct DeletedContent {
    /// The deleted chart's or dashboard's uuid.
    pub uuid: String,
    /// `chart` or `dashboard` (spaces may appear on newer servers).
    pub content_type: Option<String>,
    /// Charts: `dbt_explore` or `sql`.
    pub source: Option<String>,
    /// When it was moved to the trash.
    pub deleted_at: Option<String>,
    /// Who moved it (`null` for Autopilot's bulk clean-ups).
    pub deleted_by: Option<UserRef>,
    /// Its project.
    pub project_uuid: Option<String>,
}

/// `KnexPaginatedData` (`packages/common/src/types/knex-paginate.ts`): `{data, pagination?}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename_all = "camelCase",
    default,
    bound(deserialize = "T: Deserialize<'de>")
)]
pub struct Paginated<T> {
    /// This page's items.
    #[serde(deserialize_with = "null_default")]
    pub data: Vec<T>,
    /// Absent when the server did not paginate.
    pub pagination: Option<Pagination>,
}

impl<T> Default for Paginated<T> {
    fn default() -> Self {
        Self {
            data: Vec::new(),
            pagination: None,
        }
    }
}

/// Paging of a [`Paginated`] answer.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Pagination {
    /// 1-based page number.
    pub page: u64,
    /// Items per page.
    pub page_size: u64,
    /// Pages in all.
    pub total_page_count: u64,
    /// Items in all.
    pub total_results: u64,
}

/// One field target of a filter rule.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct FieldTarget {
    /// `<table>_<field>`, or a custom dimension / table calculation id.
    pub field_id: String,
    /// Table of the field (dashboard filters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_name: Option<String>,
    /// Metric filters (`MetricFilterRule`, `filter.ts`): the dimension as `table.field` or
    /// `field`, instead of a field id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<String>,
}

/// A single filter condition (`FilterRule` / `DashboardFilterRule`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct FilterRule {
    /// Field the rule applies to.
    pub target: FieldTarget,
    /// The comparison.
    pub operator: FilterOperator,
    /// Operands (strings, numbers, booleans, dates as strings).
    #[serde(deserialize_with = "null_default")]
    pub values: Vec<Value>,
    /// Operator settings, e.g. `{"unitOfTime": "months", "completed": true}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
    /// A disabled rule is shown to users as a control but does not filter.
    #[serde(deserialize_with = "null_default")]
    pub disabled: bool,
    /// Dashboard filters: users must set a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Dashboard filters: custom label shown instead of the field label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Dashboard filters: which tiles the filter applies to (`false` = not applied), keyed by
    /// tile uuid (legacy) or tile slug (as code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tile_targets: Option<BTreeMap<String, Value>>,
}

/// A node of a chart's filter tree: an AND group, an OR group, or a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterNode {
    /// All children must hold.
    And(Vec<FilterNode>),
    /// Any child must hold.
    Or(Vec<FilterNode>),
    /// A single condition.
    Rule(FilterRule),
}

impl<'de> Deserialize<'de> for FilterNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        FilterNode::from_value(value).map_err(serde::de::Error::custom)
    }
}

impl FilterNode {
    fn from_value(value: Value) -> Result<Self, serde_json::Error> {
        if let Value::Object(map) = &value {
            for (key, ctor) in [
                ("and", FilterNode::And as fn(Vec<FilterNode>) -> FilterNode),
                ("or", FilterNode::Or),
            ] {
                if let Some(children) = map.get(key) {
                    let children = match children {
                        Value::Array(items) => items
                            .iter()
                            .cloned()
                            .map(FilterNode::from_value)
                            .collect::<Result<Vec<_>, _>>()?,
                        _ => Vec::new(),
                    };
                    return Ok(ctor(children));
                }
            }
        }
        serde_json::from_value(value).map(FilterNode::Rule)
    }
}

impl Serialize for FilterNode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            FilterNode::And(children) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("and", children)?;
                m.end()
            }
            FilterNode::Or(children) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("or", children)?;
                m.end()
            }
            FilterNode::Rule(rule) => rule.serialize(s),
        }
    }
}

/// A chart's filters: one tree per field family.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ChartFilters {
    /// Filters on dimensions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<FilterNode>,
    /// Filters on metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<FilterNode>,
    /// Filters on table calculations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_calculations: Option<FilterNode>,
}

/// A dashboard's filters (flat lists, no groups).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct DashboardFilters {
    /// Dimension filters.
    #[serde(deserialize_with = "null_default")]
    pub dimensions: Vec<FilterRule>,
    /// Metric filters.
    #[serde(deserialize_with = "null_default")]
    pub metrics: Vec<FilterRule>,
    /// Table calculation filters (older data lacks them).
    #[serde(deserialize_with = "null_default")]
    pub table_calculations: Vec<FilterRule>,
}

/// A sort of a chart's results.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SortField {
    /// Field sorted on.
    pub field_id: String,
    /// Descending when true.
    pub descending: bool,
}

/// A table calculation defined in a chart.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct TableCalculation {
    /// Id used in `metricQuery` and sorts.
    pub name: String,
    /// Label shown to users.
    pub display_name: String,
    /// The SQL expression (rendered as code, never executed); empty for the other forms.
    pub sql: String,
    /// Newer Lightdash: a spreadsheet-like formula (`=a / b`), rendered as code.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_field"
    )]
    pub formula: Option<String>,
    /// A template (`field.ts` `TableCalculationTemplate`), rendered in words.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_field"
    )]
    pub template: Option<TableCalculationTemplate>,
}

/// A custom metric (`additionalMetrics`) defined in a chart; its id is `<table>_<name>`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct AdditionalMetric {
    /// Field name within `table`.
    pub name: String,
    /// Table the metric belongs to.
    pub table: String,
    /// Aggregation (`sum`, `count_distinct`, ...).
    #[serde(rename = "type")]
    pub metric_type: Option<String>,
    /// Label shown to users.
    pub label: Option<String>,
    /// Optional description.
    pub description: Option<String>,
    /// The dimension it aggregates.
    pub base_dimension_name: Option<String>,
    /// The SQL it aggregates (`AdditionalMetric.sql`, `field.ts`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_field"
    )]
    pub sql: Option<String>,
    /// Filters on the metric (`MetricFilterRule[]`).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_field"
    )]
    pub filters: Vec<FilterRule>,
}

/// A custom dimension (bin or SQL) defined in a chart; referenced by `id`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomDimension {
    /// Id used in `metricQuery.dimensions`.
    pub id: String,
    /// Label shown to users.
    pub name: String,
    /// Table it belongs to.
    pub table: String,
    /// `bin` or `sql`.
    #[serde(rename = "type")]
    pub dimension_type: Option<String>,
    /// Bin dimensions: the field binned.
    pub dimension_id: Option<String>,
    /// Bin dimensions: `fixed_number`, `fixed_width`, `custom_range`.
    pub bin_type: Option<String>,
    /// Bin dimensions: number of bins.
    pub bin_number: Option<f64>,
    /// Bin dimensions: width of each bin.
    pub bin_width: Option<f64>,
    /// SQL dimensions: the expression.
    pub sql: Option<String>,
}

/// What a chart queries (`MetricQuery`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct MetricQuery {
    /// Explore queried.
    pub explore_name: Option<String>,
    /// Dimension field ids, in query order.
    #[serde(deserialize_with = "null_default")]
    pub dimensions: Vec<String>,
    /// Metric field ids, in query order.
    #[serde(deserialize_with = "null_default")]
    pub metrics: Vec<String>,
    /// Filter trees.
    #[serde(deserialize_with = "null_default")]
    pub filters: ChartFilters,
    /// Sorts, in priority order.
    #[serde(deserialize_with = "null_default")]
    pub sorts: Vec<SortField>,
    /// Row limit.
    pub limit: Option<u64>,
    /// Table calculations.
    #[serde(deserialize_with = "null_default")]
    pub table_calculations: Vec<TableCalculation>,
    /// Custom metrics.
    #[serde(deserialize_with = "null_default")]
    pub additional_metrics: Vec<AdditionalMetric>,
    /// Custom dimensions.
    #[serde(deserialize_with = "null_default")]
    pub custom_dimensions: Vec<CustomDimension>,
}

/// Cartesian layout: which fields go on which axis.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct CartesianLayout {
    /// X axis field.
    pub x_field: Option<String>,
    /// Y axis fields.
    #[serde(deserialize_with = "null_default")]
    pub y_field: Vec<String>,
    /// Horizontal bars when true.
    #[serde(deserialize_with = "null_default")]
    pub flip_axes: bool,
}

/// One eCharts series; only its type matters to us.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Series {
    /// `line`, `bar`, `scatter`, `area`...
    #[serde(rename = "type")]
    pub series_type: Option<String>,
    /// Display name users see for the series (`Series.name`, `savedCharts.ts`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_field"
    )]
    pub name: Option<String>,
    /// The fields it plots.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_field"
    )]
    pub encode: Option<SeriesEncode>,
    /// Second y axis when 1.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_field"
    )]
    pub y_axis_index: Option<u32>,
}

/// The part of `eChartsConfig` we keep.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct EChartsConfig {
    /// The series drawn.
    #[serde(deserialize_with = "null_default")]
    pub series: Vec<Series>,
    /// X axes (their titles).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_field"
    )]
    pub x_axis: Vec<Axis>,
    /// Y axes (their titles); index 1 is the right-hand axis.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_field"
    )]
    pub y_axis: Vec<Axis>,
}

/// The part of `chartConfig.config` we keep. Everything else (colours, axes styling) is
/// dropped on purpose: it says nothing about what the chart means and would bloat the state.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ChartConfigDetails {
    /// Cartesian charts: axes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<CartesianLayout>,
    /// Cartesian charts: series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e_charts_config: Option<EChartsConfig>,
    /// The words the other chart families show users (column names, labels, overrides).
    #[serde(flatten)]
    pub labels: ConfigLabels,
}

/// `chartConfig`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ChartConfig {
    /// Config family.
    #[serde(rename = "type")]
    pub chart_type: ChartType,
    /// Family-specific config (tolerant: a non-object config is ignored).
    #[serde(deserialize_with = "lenient")]
    pub config: Option<ChartConfigDetails>,
}

/// Deserializes to `None` instead of failing when the value has an unexpected shape.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// `pivotConfig`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct PivotConfig {
    /// Dimensions pivoted into columns.
    #[serde(deserialize_with = "null_default")]
    pub columns: Vec<String>,
}

/// A chart's full definition, from `GET /charts/code` (`ChartAsCode`) or `GET /saved/{uuid}`
/// (`SavedChart`). As code has no uuid (identity is the slug); legacy has both.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ChartDetails {
    /// Uuid (legacy route only; filled in from the listing otherwise).
    pub uuid: Option<String>,
    /// Slug.
    pub slug: Option<String>,
    /// Display name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Explore the chart queries.
    pub table_name: Option<String>,
    /// The query.
    #[serde(deserialize_with = "null_default")]
    pub metric_query: MetricQuery,
    /// Visualisation.
    #[serde(deserialize_with = "null_default")]
    pub chart_config: ChartConfig,
    /// Pivot.
    pub pivot_config: Option<PivotConfig>,
    /// Latest versioned edit.
    pub updated_at: Option<String>,
    /// As code: the chart's space as a path.
    pub space_slug: Option<String>,
    /// As code: the dashboard the chart belongs to.
    pub dashboard_slug: Option<String>,
    /// Legacy: the dashboard the chart belongs to.
    pub dashboard_uuid: Option<String>,
    /// Newest servers: who verified it and when.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// Newer servers: saved parameter values (`ParametersValuesMap`:
    /// `packages/common/src/types/parameters.ts`), by parameter name.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub parameters: Option<BTreeMap<String, Value>>,
    /// SQL-runner charts: the query (`SqlChartAsCode.sql` / `SqlChart.sql`,
    /// `packages/common/src/types/contentAsCode/charts.ts`, `sqlRunner.ts`). `Some` marks a
    /// SQL chart; explore charts never have it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    /// SQL-runner charts: row limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// SQL-runner charts: the visual kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart_kind: Option<ChartKind>,
    /// SQL-runner charts: the visualisation (`fieldConfig` names the result columns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// SQL-runner charts (`GET /sqlRunner/saved/{uuid}`): the chart's uuid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_sql_uuid: Option<String>,
    /// SQL-runner charts (`GET /sqlRunner/saved/{uuid}`): latest edit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_at: Option<String>,
    /// SQL-runner charts (`GET /sqlRunner/saved/{uuid}`): its space.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub space: Option<SqlChartSpace>,
    /// SQL-runner charts (`GET /sqlRunner/saved/{uuid}`): views.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub views: Option<u64>,
    /// Definitions of the parameters it uses, set by the cycle just before rendering (never
    /// stored: the project's definitions are read each cycle).
    #[serde(skip)]
    pub parameter_definitions: ParameterDefinitions,
}

/// `SqlChart.space` (`packages/common/src/types/sqlRunner.ts`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SqlChartSpace {
    /// Space uuid.
    pub uuid: String,
    /// Space name.
    pub name: Option<String>,
}

impl ChartDetails {
    /// Whether these are a SQL-runner chart's details.
    pub fn is_sql(&self) -> bool {
        self.sql.is_some()
    }

    /// The explore queried, from whichever field this server filled in.
    pub fn explore_name(&self) -> Option<&str> {
        self.metric_query
            .explore_name
            .as_deref()
            .or(self.table_name.as_deref())
            .filter(|s| !s.is_empty())
    }
}

/// A dashboard tab.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct DashboardTab {
    /// Tab uuid, referenced by tiles' `tabUuid`.
    pub uuid: String,
    /// Tab name.
    pub name: String,
    /// Display order.
    pub order: f64,
    /// Hidden tabs are not shown to viewers.
    #[serde(deserialize_with = "null_default")]
    pub hidden: bool,
    /// Newest as code: the portable tab id that tiles' `tabSlug` refers to
    /// (`DashboardTabAsCode`, `packages/common/src/types/contentAsCode/dashboards.ts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
}

/// Tile properties: the union of every tile type's properties, all optional, so one struct
/// reads every tile type including ones this build does not know.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct TileProperties {
    /// Title (chart, markdown, loom, data app tiles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Chart tiles: title hidden.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub hide_title: bool,
    /// Legacy chart tiles: the chart (`null` when the chart was deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_chart_uuid: Option<String>,
    /// As-code chart tiles: the chart's slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart_slug: Option<String>,
    /// Chart name as the tile knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart_name: Option<String>,
    /// Legacy: the chart's kind at its last version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_version_chart_kind: Option<ChartKind>,
    /// Markdown tiles: the markdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Loom tiles: the video URL (never rendered as a link: it is user text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Heading tiles: the heading text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// SQL chart tiles: the SQL chart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_sql_uuid: Option<String>,
    /// Data-app tiles: the app (`DashboardDataAppTileProperties`, `dashboard.ts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_uuid: Option<String>,
    /// Data-app tiles: set when the app was deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_deleted_at: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A dashboard tile.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct DashboardTile {
    /// Tile uuid (legacy; usually absent as code).
    pub uuid: Option<String>,
    /// Tile type.
    #[serde(rename = "type")]
    pub tile_type: TileType,
    /// Column.
    pub x: f64,
    /// Row.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
    /// Tab holding the tile (`null` on dashboards without tabs, or on the first tab).
    pub tab_uuid: Option<String>,
    /// As code: the tile's slug (keys of filter `tileTargets`).
    pub tile_slug: Option<String>,
    /// Newest as code: the tab holding the tile, by the tab's `slug`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tab_slug: Option<String>,
    /// Type-specific properties.
    #[serde(deserialize_with = "null_default")]
    pub properties: TileProperties,
}

/// A dashboard's full definition, from `GET /dashboards/code` (`DashboardAsCode`) or
/// `GET /dashboards/{uuid}` (`Dashboard`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct DashboardDetails {
    /// Uuid (legacy route only; filled in from the listing otherwise).
    pub uuid: Option<String>,
    /// Slug.
    pub slug: Option<String>,
    /// Display name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Latest versioned edit.
    pub updated_at: Option<String>,
    /// Legacy only: who made it.
    pub updated_by_user: Option<UserRef>,
    /// Tabs (empty when the dashboard has none).
    #[serde(deserialize_with = "null_default")]
    pub tabs: Vec<DashboardTab>,
    /// Dashboard-wide filters.
    #[serde(deserialize_with = "null_default")]
    pub filters: DashboardFilters,
    /// Tiles.
    #[serde(deserialize_with = "null_default")]
    pub tiles: Vec<DashboardTile>,
    /// As code: the dashboard's space as a path.
    pub space_slug: Option<String>,
    /// Newest servers: who verified it and when.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// Newer servers: dashboard parameter values by key (`DashboardParameters`,
    /// `packages/common/src/types/parameters.ts`).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub parameters: Option<BTreeMap<String, DashboardParameter>>,
    /// Dashboard config; only `pinnedParameters` is kept.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub config: Option<DashboardConfig>,
    /// Definitions of the parameters it uses, set by the cycle just before rendering.
    #[serde(skip)]
    pub parameter_definitions: ParameterDefinitions,
}

/// A project parameter's definition, `GET /api/v2/projects/{p}/parameters` (results
/// `Record<name, LightdashProjectParameter>`: `ParametersController`,
/// `packages/common/src/types/lightdashProjectConfig.ts`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ParameterDefinition {
    /// Label shown to users.
    pub label: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// The project's default: a value or a list.
    pub default: Option<Value>,
    /// Several values may be chosen.
    #[serde(deserialize_with = "null_default")]
    pub multiple: bool,
    /// Values beyond `options` may be typed in.
    #[serde(rename = "allow_custom_values", deserialize_with = "null_default")]
    pub allow_custom_values: bool,
    /// Allowed values: strings, numbers, or `{label, value}` pairs.
    #[serde(deserialize_with = "null_default")]
    pub options: Vec<Value>,
    /// Allowed values come from a dimension's values.
    #[serde(rename = "options_from_dimension")]
    pub options_from_dimension: Option<OptionsFromDimension>,
}

/// `options_from_dimension` of a parameter definition.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default)]
pub struct OptionsFromDimension {
    /// dbt model.
    pub model: String,
    /// Dimension whose values are offered.
    pub dimension: String,
}

/// Parameter definitions of a project, by parameter name.
pub type ParameterDefinitions = BTreeMap<String, ParameterDefinition>;

/// `DashboardParameterValue` (`packages/common/src/types/parameters.ts`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct DashboardParameter {
    /// Parameter name.
    pub parameter_name: Option<String>,
    /// Value: a string, number, or a list of them.
    pub value: Value,
}

/// The part of `DashboardConfig` (`dashboard.ts`) we keep.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct DashboardConfig {
    /// Parameters pinned to the dashboard's header.
    #[serde(deserialize_with = "null_default")]
    pub pinned_parameters: Vec<String>,
}

/// How a dashboard tile names its SQL-runner chart: by uuid (API payloads) or slug (as code).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SqlChartRef {
    /// `properties.savedSqlUuid`.
    Uuid(String),
    /// `properties.chartSlug` of a `sql_chart` tile.
    Slug(String),
}

impl DashboardDetails {
    /// The SQL-runner charts its `sql_chart` tiles show, sorted, once each.
    pub fn sql_chart_refs(&self) -> Vec<SqlChartRef> {
        let mut out: Vec<SqlChartRef> = self
            .tiles
            .iter()
            .filter(|t| t.tile_type == TileType::SqlChart)
            .filter_map(|t| {
                let p = &t.properties;
                p.saved_sql_uuid
                    .clone()
                    .map(SqlChartRef::Uuid)
                    .or_else(|| p.chart_slug.clone().map(SqlChartRef::Slug))
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Uuids of the charts on its tiles, sorted, once each: `savedChartUuid` on legacy
    /// payloads, `chartSlug` resolved through the charts listing on as-code payloads.
    pub fn chart_uuids(&self, slug_to_uuid: &std::collections::HashMap<&str, &str>) -> Vec<String> {
        let mut out: Vec<String> = self
            .tiles
            .iter()
            .filter_map(|t| {
                t.properties
                    .saved_chart_uuid
                    .clone()
                    .or_else(|| t.properties.saved_sql_uuid.clone())
                    .or_else(|| {
                        t.properties
                            .chart_slug
                            .as_deref()
                            .and_then(|s| slug_to_uuid.get(s))
                            .map(|u| (*u).to_owned())
                    })
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// A field of an explore (`CompiledDimension` / `CompiledMetric`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ExploreField {
    /// Field name within its table.
    pub name: String,
    /// Label.
    pub label: Option<String>,
    /// Table the field belongs to; with `name` it makes the field id.
    pub table: String,
    /// Table label.
    pub table_label: Option<String>,
    /// Description from dbt.
    pub description: Option<String>,
    /// Field type (`string`, `date`, `sum`, ...).
    #[serde(rename = "type")]
    pub field_type: Option<String>,
    /// Hidden fields.
    #[serde(deserialize_with = "null_default")]
    pub hidden: bool,
    /// Date parts: the time interval (`MONTH`, ...).
    pub time_interval: Option<String>,
    /// AI hint from dbt meta (`ai_hint`); a string or a list of strings.
    #[serde(deserialize_with = "string_or_list")]
    pub ai_hint: Option<String>,
    /// Templated SQL as written in dbt (`${TABLE}.amount`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_field"
    )]
    pub sql: Option<String>,
    /// SQL with template variables resolved (`CompiledProperties.compiledSql`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_field"
    )]
    pub compiled_sql: Option<String>,
    /// Metrics: filters applied inside the aggregate (`Metric.filters`).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_field"
    )]
    pub filters: Vec<FilterRule>,
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect();
            // Hints are usually sentences: join them as prose, adding a full stop only
            // where a hint lacks closing punctuation.
            let joined = parts
                .iter()
                .map(|p| p.trim())
                .filter(|p| !p.is_empty())
                .map(|p| {
                    if p.ends_with(['.', '!', '?']) {
                        p.to_owned()
                    } else {
                        format!("{p}.")
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            (!joined.is_empty()).then_some(joined)
        }
        _ => None,
    })
}

impl<T> Default for AsCodePage<T> {
    fn default() -> Self {
        Self {
            charts: Vec::new(),
            dashboards: Vec::new(),
            sql_charts: Vec::new(),
            missing_ids: Vec::new(),
            total: 0,
            offset: 0,
        }
    }
}

/// A table of an explore (`CompiledTable`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ExploreTable {
    /// Table name.
    pub name: String,
    /// Label.
    pub label: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Dimensions by name (date parts are separate entries).
    #[serde(deserialize_with = "null_default")]
    pub dimensions: BTreeMap<String, ExploreField>,
    /// Metrics by name.
    #[serde(deserialize_with = "null_default")]
    pub metrics: BTreeMap<String, ExploreField>,
    /// Warehouse database (`CompiledTable.database`, `explore.ts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Warehouse schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The table as the warehouse names it, quoted (`"db"."schema"."table"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql_table: Option<String>,
}

/// `GET /api/v1/projects/{p}/explores/{name}` results.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Explore {
    /// Explore name.
    pub name: String,
    /// Label.
    pub label: Option<String>,
    /// Base table.
    pub base_table: Option<String>,
    /// Tables by name.
    #[serde(deserialize_with = "null_default")]
    pub tables: BTreeMap<String, ExploreTable>,
    /// Joined tables, in join order.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_field"
    )]
    pub joined_tables: Vec<ExploreJoin>,
}

/// One page of an as-code listing.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename_all = "camelCase",
    default,
    bound(deserialize = "T: Deserialize<'de>")
)]
pub struct AsCodePage<T> {
    /// Charts (`/charts/code`).
    #[serde(deserialize_with = "null_default")]
    pub charts: Vec<T>,
    /// Dashboards (`/dashboards/code`).
    #[serde(deserialize_with = "null_default")]
    pub dashboards: Vec<T>,
    /// SQL charts (`/sqlCharts/code`, `ApiSqlChartAsCodeListResponse`).
    #[serde(deserialize_with = "null_default")]
    pub sql_charts: Vec<T>,
    /// Requested ids that were not found.
    #[serde(deserialize_with = "null_default")]
    pub missing_ids: Vec<String>,
    /// Items the caller may see in all.
    pub total: u64,
    /// Where the next page starts.
    pub offset: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_are_kept() {
        let t: DashboardTile =
            serde_json::from_str(r#"{"type":"fancy_new_tile","x":0,"y":0,"w":1,"h":1,"properties":{"title":"T","extra":1}}"#)
                .unwrap();
        assert_eq!(t.tile_type, TileType::Unknown("fancy_new_tile".into()));
        assert_eq!(
            serde_json::to_value(&t.tile_type).unwrap(),
            "fancy_new_tile"
        );
        let k: ChartKind = serde_json::from_str(r#""sankey""#).unwrap();
        assert_eq!(k.as_str(), "sankey");
    }

    #[test]
    fn filter_tree_reads_groups_and_rules() {
        let f: ChartFilters = serde_json::from_str(
            r#"{"dimensions":{"id":"g","and":[{"id":"r","target":{"fieldId":"deals_stage"},"operator":"equals","values":["Lost"]},{"id":"g2","or":[]}]}}"#,
        )
        .unwrap();
        let Some(FilterNode::And(children)) = &f.dimensions else {
            panic!("{f:?}")
        };
        assert_eq!(children.len(), 2);
        assert!(
            matches!(&children[0], FilterNode::Rule(r) if r.target.field_id == "deals_stage" && r.operator == FilterOperator::Equals)
        );
        assert_eq!(children[1], FilterNode::Or(vec![]));
        let back: ChartFilters = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn example_payloads_parse() {
        let chart: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/shared/01-charts-as-code.2025-08.json"
        ))
        .unwrap();
        let page: AsCodePage<ChartDetails> =
            serde_json::from_value(chart["results"].clone()).unwrap();
        assert_eq!(page.charts[0].slug.as_deref(), Some("monthly-loss-rate"));
        assert_eq!(page.charts[0].metric_query.metrics, vec!["deals_loss_rate"]);
        let dash: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/shared/02-dashboards-as-code.2025-08.json"
        ))
        .unwrap();
        let page: AsCodePage<DashboardDetails> =
            serde_json::from_value(dash["results"].clone()).unwrap();
        let d = &page.dashboards[0];
        assert_eq!(d.tabs.len(), 2);
        assert_eq!(
            d.tiles[0].properties.chart_slug.as_deref(),
            Some("overall-loss-rate")
        );
        assert_eq!(d.filters.dimensions[2].values, vec![Value::from("2025")]);
        let legacy: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/shared/07-dashboard.get.mock.json"
        ))
        .unwrap();
        let d: DashboardDetails = serde_json::from_value(legacy["results"].clone()).unwrap();
        assert_eq!(d.tiles[1].tile_type, TileType::Loom);
        assert_eq!(
            d.tiles[0].properties.saved_chart_uuid.as_deref(),
            Some("123")
        );
        let explore: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/shared/06-explore.airports.json"
        ))
        .unwrap();
        let e: Explore = serde_json::from_value(explore["results"].clone()).unwrap();
        assert_eq!(
            e.tables["airports"].metrics["total_passenger_volume"]
                .label
                .as_deref(),
            Some("Total passenger volume")
        );
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// Structural memory check: a cycle holds every listed item for its whole length
    /// (100,000 at the largest organisations we plan for), so their inline sizes are pinned.
    /// Before compaction: chart 448 bytes, dashboard 352, space 144.
    #[test]
    fn listed_items_stay_small() {
        use std::mem::size_of;
        assert!(
            size_of::<ChartSummary>() <= SIZE_CHART,
            "{}",
            size_of::<ChartSummary>()
        );
        assert!(
            size_of::<DashboardSummary>() <= SIZE_DASHBOARD,
            "{}",
            size_of::<DashboardSummary>()
        );
        assert!(
            size_of::<SpaceSummary>() <= SIZE_SPACE,
            "{}",
            size_of::<SpaceSummary>()
        );
        // What the savings rest on.
        assert_eq!(size_of::<Option<SharedUser>>(), 8);
        assert_eq!(size_of::<Option<Box<Verification>>>(), 8);
        assert_eq!(size_of::<Option<Box<str>>>(), 16);
    }

    const SIZE_CHART: usize = 264;
    const SIZE_DASHBOARD: usize = 176;
    const SIZE_SPACE: usize = 144;
}
