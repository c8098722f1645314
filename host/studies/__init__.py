"""Studies over grids of settings on Dask: noise and critical sigma, number formats, reports, speed."""
