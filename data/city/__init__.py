"""A generated city of sites (``python app.py city generate``): Zhengzhou's
districts, their streets and communities, each community a site folder with
its grids, gates, car parks, people and categories. :mod:`data.city.plan`
lays out the tree, :mod:`data.city.site_docs` fills one site,
:mod:`data.city.write` writes the folders."""
