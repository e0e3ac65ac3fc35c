"""Pages of quality control (DESIGN §11), one module an area, each rendered through
:func:`projects.pages.project_page`."""
