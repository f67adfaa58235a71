"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""

from app.models.base import Base
from app.models.catalog import Price, PriceType, Product, RecurringInterval
from app.models.customer import Customer
from app.models.payment_method import PaymentMethod, PspCustomer

__all__ = [
    "Base",
    "Customer",
    "PaymentMethod",
    "Price",
    "PriceType",
    "Product",
    "PspCustomer",
    "RecurringInterval",
]
