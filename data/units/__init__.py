"""The chain above the sites: units (street, district, city) made from the
site files (:mod:`data.units.tree`), their outlines dissolved from the grids
(:mod:`data.units.outlines`), and their figures rolled up live from the sites
(:mod:`data.units.counts` at fold time, :mod:`data.units.rollup` after each
snapshot)."""
