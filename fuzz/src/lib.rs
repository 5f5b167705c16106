//! The fuzz targets' logic ([`harness`]), one function per target.

pub mod harness;
