"""E-commerce marketing workbench: simulate, store, validate, analyse, report."""

__version__ = "0.1.0"
