// Times arrive in UTC (ISO 8601); the console shows them in the company's time zone.

let zone = "Asia/Shanghai";
let formatter = null;

export function setTimeZone(tz) {
  zone = tz || zone;
  formatter = null;
}

export function timeZone() {
  return zone;
}

/** "2026-03-02 09:00:00" in company time. */
export function companyTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  formatter ||= new Intl.DateTimeFormat("en-CA", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });
  const p = Object.fromEntries(formatter.formatToParts(date).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

/** A field value as shown: ISO times in company time, everything else unchanged. */
export function maybeTime(value) {
  return typeof value === "string" && ISO_TIME.test(value) ? companyTime(value) : value;
}
