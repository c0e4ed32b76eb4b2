"""The columns of the Shopify admin's CSV exports, in its current and legacy layouts.

Read by :mod:`workbench.importers.shopify` and written by
:mod:`workbench.exporters.shopify`.  Sources (Shopify's help centre and export apps
that document the same headers) are named in ``tests/fixtures/shopify/README.md``.

* orders: the *current* layout adds ``Lineitem discount``, ``Receipt Number``,
  ``Duties``, ``Billing/Shipping Province Name``, ``Payment ID``, ``Payment Terms
  Name``, ``Next Payment Due At`` and ``Payment References`` to the *legacy* one.
* customers: *current* has ``Customer ID``, ``Accepts Email Marketing``, ``Accepts SMS
  Marketing`` and ``Default Address ...`` columns; *legacy* has ``Accepts Marketing``
  (email only) and the address as ``Province``, ``Province Code``, ``Country``,
  ``Country Code``...
* products: *current* adds ``Product Category`` and ``Status``.

Examples
--------
>>> layout_of("customers", ["Email", "Accepts Marketing"])
'legacy'
"""

from __future__ import annotations

from collections.abc import Iterable

_TAX = tuple(f"Tax {i} {k}" for i in range(1, 6) for k in ("Name", "Value"))
_ORDER_BASE = (
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at",
    "Accepts Marketing", "Currency", "Subtotal", "Shipping", "Taxes", "Total",
    "Discount Code", "Discount Amount", "Shipping Method", "Created at", "Lineitem quantity",
    "Lineitem name", "Lineitem price", "Lineitem compare at price", "Lineitem sku",
    "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status",
    "Billing Name", "Billing Street", "Billing Address1", "Billing Address2",
    "Billing Company", "Billing City", "Billing Zip", "Billing Province", "Billing Country",
    "Billing Phone", "Shipping Name", "Shipping Street", "Shipping Address1",
    "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip",
    "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Note Attributes",
    "Cancelled at", "Payment Method", "Payment Reference", "Refunded Amount", "Vendor",
    "Outstanding Balance", "Employee", "Location", "Device ID", "Id", "Tags", "Risk Level",
    "Source")
#: the orders export's columns, in the admin's order, per layout
ORDERS_COLUMNS: dict[str, tuple[str, ...]] = {
    "legacy": (*_ORDER_BASE, *_TAX, "Phone"),
    "current": (*_ORDER_BASE, "Lineitem discount", *_TAX, "Phone", "Receipt Number",
                "Duties", "Billing Province Name", "Shipping Province Name", "Payment ID",
                "Payment Terms Name", "Next Payment Due At", "Payment References")}
CUSTOMERS_COLUMNS: dict[str, tuple[str, ...]] = {
    "current": ("Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing",
                "Default Address Company", "Default Address Address1",
                "Default Address Address2", "Default Address City",
                "Default Address Province Code", "Default Address Country Code",
                "Default Address Zip", "Default Address Phone", "Phone",
                "Accepts SMS Marketing", "Total Spent", "Total Orders", "Note", "Tax Exempt",
                "Tags"),
    "legacy": ("First Name", "Last Name", "Email", "Company", "Address1", "Address2", "City",
               "Province", "Province Code", "Country", "Country Code", "Zip", "Phone",
               "Accepts Marketing", "Total Spent", "Total Orders", "Tags", "Note",
               "Tax Exempt")}
_PRODUCT_TAIL = (
    "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Option3 Name",
    "Option3 Value", "Variant SKU", "Variant Grams", "Variant Inventory Tracker",
    "Variant Inventory Qty", "Variant Inventory Policy", "Variant Fulfillment Service",
    "Variant Price", "Variant Compare At Price", "Variant Requires Shipping",
    "Variant Taxable", "Variant Barcode", "Image Src", "Image Position", "Image Alt Text",
    "Gift Card", "SEO Title", "SEO Description", "Variant Image", "Variant Weight Unit",
    "Variant Tax Code", "Cost per item")
PRODUCTS_COLUMNS: dict[str, tuple[str, ...]] = {
    "current": ("Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type",
                "Tags", "Published", *_PRODUCT_TAIL, "Status"),
    "legacy": ("Handle", "Title", "Body (HTML)", "Vendor", "Type", "Tags", "Published",
               *_PRODUCT_TAIL)}

#: columns each file must have (in both layouts) to be read as that export
REQUIRED = {
    "orders": ("Name", "Email", "Financial Status", "Currency", "Discount Code",
               "Discount Amount", "Created at", "Cancelled at", "Refunded Amount",
               "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku"),
    "customers": ("Email", "Phone", "Total Spent", "Total Orders"),
    "products": ("Handle", "Title", "Type", "Variant SKU", "Variant Price")}
#: a column that only the current layout has, per file
_CURRENT_MARKERS = {"orders": ("Lineitem discount", "Payment ID"),
                    "customers": ("Accepts Email Marketing",),
                    "products": ("Product Category", "Status")}


def layout_of(kind: str, columns: Iterable[str]) -> str:
    """"current" when a column only the current layout of ``kind`` has is present."""
    columns = set(columns)
    return "current" if any(c in columns for c in _CURRENT_MARKERS[kind]) else "legacy"


__all__ = ["CUSTOMERS_COLUMNS", "ORDERS_COLUMNS", "PRODUCTS_COLUMNS", "REQUIRED",
           "layout_of"]
