"""Photo input/output: RAW (LibRaw), JPEG/PNG/TIFF, metadata, atomic writes, synthetic DNGs."""
