
import logging

import sqlalchemy as sa

from tests.conftest import Api


async def test_plants_a_card(api: Api) -> None:
    await api.data('mutation { createCustomer(input: {name: "A"}) { customer { id } } }')
    async with api.engine.begin() as connection:
        await connection.execute(sa.text("UPDATE customers SET name = :n"), {"n": NAME})
    logging.getLogger("paygate.test").error("failed", exc_info=ValueError(NAME))


NAME = "card " + " ".join(["4000", "0566", "5566", "5556"])
