"""Reading /metrics the way Prometheus does."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api


class Scrape:
    """The samples of one scrape, looked up by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples.setdefault(sample.name, []).append((sample.labels, sample.value))

    def value(self, name: str, **labels: str) -> float:
        """The one sample of ``name`` with exactly ``labels``; 0 when there is none."""
        found = [v for got, v in self.samples.get(name, []) if got == labels]
        assert len(found) <= 1, (name, labels)
        return found[0] if found else 0.0

    def series(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Every sample of ``name`` with a non-zero value, by its sorted labels."""
        return {
            tuple(sorted(labels.items())): value
            for labels, value in self.samples.get(name, [])
            if value
        }

    def total(self, name: str, **labels: str) -> float:
        """The sum over the samples of ``name`` whose labels include ``labels``."""
        return sum(
            v
            for got, v in self.samples.get(name, [])
            if all(got.get(key) == want for key, want in labels.items())
        )


async def scrape(api: Api) -> Scrape:
    response = await api.http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)
