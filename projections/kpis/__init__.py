"""KPIs: fact projections per family (`tickets`, `inspections`, `nonconformances`,
`surveys`) over the shared machinery (`facts`), what a family of figures is (`spec`), the
one SQL builder (`query`), precomputed report cells (`cells`), the answer to a KPI
request — a report cell or the live query (`answer`) — and the reporting schema for BI
tools (`reporting`)."""
