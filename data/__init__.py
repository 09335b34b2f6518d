"""Everything about data: reading and validating user files, windows, splits, tokenizers, samplers and the
LightningDataModules built from them (``data_loader.build_datamodule`` picks one). The ``make_*.py`` files are
scripts that regenerate the committed sample data; nothing at run time imports them."""
