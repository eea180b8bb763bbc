use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arrow::array::{Array, ArrayRef, Float64Builder, Int64Builder, StringArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use maxminddb::{MaxMindDbError, Reader, geoip2};

/// How often a lookup may stat the database file to notice a replacement.
const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(2);

/// One MaxMind database file (City, Country or ASN), reloaded when the file on disk changes so
/// a weekly `geoipupdate` needs no restart.
#[derive(Debug)]
pub struct GeoIpDatabase {
    path: PathBuf,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    reader: Arc<Reader<Vec<u8>>>,
    modified: Option<(SystemTime, u64)>,
    checked: Instant,
}

/// What identifies a version of the file: an updater that renames a new file over the old one
/// changes both, one that rewrites in place changes the time.
fn modified(path: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// A configured MaxMind database that does not open.
#[derive(Debug, thiserror::Error)]
#[error("cannot open GeoIP database {}: {source}", path.display())]
pub struct GeoIpError {
    pub path: PathBuf,
    #[source]
    pub source: MaxMindDbError,
}

impl GeoIpDatabase {
    pub fn open(path: impl Into<PathBuf>) -> Result<GeoIpDatabase, GeoIpError> {
        let path = path.into();
        let reader = match Reader::open_readfile(&path) {
            Ok(reader) => reader,
            Err(source) => return Err(GeoIpError { path, source }),
        };
        Ok(GeoIpDatabase {
            state: Mutex::new(Loaded {
                reader: Arc::new(reader),
                modified: modified(&path),
                checked: Instant::now(),
            }),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The loaded reader, replaced first when the file changed. A replacement that does not
    /// open (a half-written download) keeps the old one and is retried at the next check.
    fn current(&self) -> Arc<Reader<Vec<u8>>> {
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        if state.checked.elapsed() >= RELOAD_CHECK_EVERY {
            state.checked = Instant::now();
            let now = modified(&self.path);
            if now != state.modified {
                match Reader::open_readfile(&self.path) {
                    Ok(reader) => {
                        tracing::info!("geoip: reloaded {}", self.path.display());
                        state.reader = Arc::new(reader);
                        state.modified = now;
                    }
                    Err(error) => tracing::warn!(
                        "geoip: {} changed but does not open, keeping the loaded copy: {error}",
                        self.path.display()
                    ),
                }
            }
        }
        state.reader.clone()
    }
}

/// Where a node's MaxMind databases are: the `[geoip]` section of piper's and the control
/// plane's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIpSettings {
    /// A GeoIP2/GeoLite2 City (or Country) database. Without it `geoip` filters are refused.
    #[serde(default)]
    pub city_database: Option<PathBuf>,
    /// A GeoLite2/GeoIP2 ASN database; adds `_geo_asn` and `_geo_as_org`.
    #[serde(default)]
    pub asn_database: Option<PathBuf>,
}

impl GeoIpSettings {
    pub fn open(&self) -> Result<GeoIp, GeoIpError> {
        GeoIp::open(self.city_database.as_deref(), self.asn_database.as_deref())
    }
}

/// The GeoIP databases a process has configured; the `geoip` filter needs `city`.
#[derive(Debug, Clone, Default)]
pub struct GeoIp {
    pub city: Option<Arc<GeoIpDatabase>>,
    pub asn: Option<Arc<GeoIpDatabase>>,
}

impl GeoIp {
    /// Opens the configured files; an unreadable one is an error naming the file.
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<GeoIp, GeoIpError> {
        let open = |path: Option<&Path>| {
            path.map(|p| GeoIpDatabase::open(p).map(Arc::new))
                .transpose()
        };
        Ok(GeoIp {
            city: open(city)?,
            asn: open(asn)?,
        })
    }
}

/// Location of one address, as the columns `geoip` adds.
#[derive(Debug, Clone, Default, PartialEq)]
struct Place {
    country: Option<String>,
    country_code: Option<String>,
    city: Option<String>,
    region: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    asn: Option<i64>,
    as_org: Option<String>,
}

fn lookup_place(city: &Reader<Vec<u8>>, asn: Option<&Reader<Vec<u8>>>, address: IpAddr) -> Place {
    let mut place = Place::default();
    if let Ok(Some(found)) = city
        .lookup(address)
        .and_then(|r| r.decode::<geoip2::City>())
    {
        place.country = found.country.names.english.map(str::to_owned);
        place.country_code = found.country.iso_code.map(str::to_owned);
        place.city = found.city.names.english.map(str::to_owned);
        place.region = found
            .subdivisions
            .first()
            .and_then(|s| s.names.english)
            .map(str::to_owned);
        place.lat = found.location.latitude;
        place.lon = found.location.longitude;
    }
    if let Some(asn) = asn
        && let Ok(Some(found)) = asn.lookup(address).and_then(|r| r.decode::<geoip2::Asn>())
    {
        place.asn = found.autonomous_system_number.map(i64::from);
        place.as_org = found.autonomous_system_organization.map(str::to_owned);
    }
    place
}

/// The columns `geoip` adds for `field`, in order, as (name, values). Addresses that do not
/// parse or are not in the database get nulls; each distinct address is looked up once.
pub(crate) fn enrich(
    geoip: &GeoIp,
    field: &str,
    column: &ArrayRef,
) -> Result<Vec<(String, ArrayRef)>, arrow::error::ArrowError> {
    let Some(city) = geoip.city.as_ref().map(|db| db.current()) else {
        return Ok(Vec::new());
    };
    let asn = geoip.asn.as_ref().map(|db| db.current());
    let text = cast(column, &DataType::Utf8)?;
    let text = text
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| arrow::error::ArrowError::CastError(format!("{field} is not text")))?;
    let rows = text.len();
    let mut seen: HashMap<&str, Place> = HashMap::new();
    let mut country = StringBuilder::with_capacity(rows, rows * 8);
    let mut country_code = StringBuilder::with_capacity(rows, rows * 2);
    let mut city_name = StringBuilder::with_capacity(rows, rows * 8);
    let mut region = StringBuilder::with_capacity(rows, rows * 8);
    let mut lat = Float64Builder::with_capacity(rows);
    let mut lon = Float64Builder::with_capacity(rows);
    let mut asn_number = Int64Builder::with_capacity(rows);
    let mut as_org = StringBuilder::with_capacity(rows, rows * 8);
    let nowhere = Place::default();
    for value in text.iter() {
        let place = match value {
            Some(value) => {
                &*seen
                    .entry(value)
                    .or_insert_with(|| match value.trim().parse::<IpAddr>() {
                        Ok(address) => lookup_place(&city, asn.as_deref(), address),
                        Err(_) => Place::default(),
                    })
            }
            None => &nowhere,
        };
        country.append_option(place.country.as_deref());
        country_code.append_option(place.country_code.as_deref());
        city_name.append_option(place.city.as_deref());
        region.append_option(place.region.as_deref());
        lat.append_option(place.lat);
        lon.append_option(place.lon);
        asn_number.append_option(place.asn);
        as_org.append_option(place.as_org.as_deref());
    }
    let mut columns: Vec<(String, ArrayRef)> = vec![
        (format!("{field}_geo_country"), Arc::new(country.finish())),
        (
            format!("{field}_geo_country_code"),
            Arc::new(country_code.finish()),
        ),
        (format!("{field}_geo_city"), Arc::new(city_name.finish())),
        (format!("{field}_geo_region"), Arc::new(region.finish())),
        (format!("{field}_geo_lat"), Arc::new(lat.finish())),
        (format!("{field}_geo_lon"), Arc::new(lon.finish())),
    ];
    if asn.is_some() {
        columns.push((format!("{field}_geo_asn"), Arc::new(asn_number.finish())));
        columns.push((format!("{field}_geo_as_org"), Arc::new(as_org.finish())));
    }
    Ok(columns)
}
