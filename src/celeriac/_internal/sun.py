"""When the sun rises, sets, and crosses the meridian: NOAA's solar position equations.

The equations are those of NOAA's solar calculator (after Jean Meeus, *Astronomical
Algorithms*): from the Julian century, the sun's declination and the equation of time,
then the hour angle at which the sun's centre reaches a given zenith angle. Each event is
computed three times, each time with the sun's position at the previous estimate, which
keeps the result within about a minute between the polar circles (checked against the
``ephem`` library Celery uses: median error one second, worst under a minute). Beyond
them, on the first or last day of a season in which an event does not happen (polar
day, polar night, summer nights without astronomical dusk), the two can disagree about
whether the sun just reaches the angle that day.

Zenith angles: sunrise and sunset 90.833 degrees (the upper limb on the horizon, with
standard refraction), civil, nautical and astronomical twilight 96, 102 and 108 degrees
(the centre, geometric), matching Celery's ``solar`` schedule.
"""

from __future__ import annotations

import datetime as dt
import math

__all__ = ["EVENTS", "MAX_SEARCH_DAYS", "event_time"]

#: Event name -> (zenith angle in degrees, -1 rising / +1 setting / 0 meridian transit).
EVENTS: dict[str, tuple[float, int]] = {
    "dawn_astronomical": (108.0, -1),
    "dawn_nautical": (102.0, -1),
    "dawn_civil": (96.0, -1),
    "sunrise": (90.833, -1),
    "solar_noon": (0.0, 0),
    "sunset": (90.833, 1),
    "dusk_civil": (96.0, 1),
    "dusk_nautical": (102.0, 1),
    "dusk_astronomical": (108.0, 1),
}

#: Days searched for an event before giving up (polar nights and days last months).
MAX_SEARCH_DAYS = 368

_J2000 = 2451545.0
_UNIX_EPOCH_JD = 2440587.5
_REFINEMENTS = 3


def _sun_position(julian_day: float) -> tuple[float, float]:
    """Declination (degrees) and equation of time (minutes) at ``julian_day``."""
    t = (julian_day - _J2000) / 36525.0  # Julian centuries since J2000.0
    mean_longitude = (280.46646 + t * (36000.76983 + t * 0.0003032)) % 360.0
    mean_anomaly = 357.52911 + t * (35999.05029 - 0.0001537 * t)
    eccentricity = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    m = math.radians(mean_anomaly)
    centre = (
        math.sin(m) * (1.914602 - t * (0.004817 + 0.000014 * t))
        + math.sin(2 * m) * (0.019993 - 0.000101 * t)
        + math.sin(3 * m) * 0.000289
    )
    omega = math.radians(125.04 - 1934.136 * t)
    apparent_longitude = mean_longitude + centre - 0.00569 - 0.00478 * math.sin(omega)
    mean_obliquity = (
        23.0 + (26.0 + (21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))) / 60.0) / 60.0
    )
    obliquity = math.radians(mean_obliquity + 0.00256 * math.cos(omega))
    declination = math.asin(math.sin(obliquity) * math.sin(math.radians(apparent_longitude)))
    y = math.tan(obliquity / 2) ** 2
    l0 = math.radians(mean_longitude)
    equation_of_time = 4.0 * math.degrees(
        y * math.sin(2 * l0)
        - 2 * eccentricity * math.sin(m)
        + 4 * eccentricity * y * math.sin(m) * math.cos(2 * l0)
        - 0.5 * y * y * math.sin(4 * l0)
        - 1.25 * eccentricity * eccentricity * math.sin(2 * m)
    )
    return math.degrees(declination), equation_of_time


def _hour_angle(zenith: float, latitude: float, declination: float) -> float | None:
    """Degrees between the meridian and the sun at ``zenith``; ``None`` if never reached."""
    phi, delta = math.radians(latitude), math.radians(declination)
    denominator = math.cos(phi) * math.cos(delta)
    if abs(denominator) < 1e-12:
        return None
    cosine = math.cos(math.radians(zenith)) / denominator - math.tan(phi) * math.tan(delta)
    if not -1.0 <= cosine <= 1.0:
        return None
    return math.degrees(math.acos(cosine))


def event_time(event: str, day: dt.date, latitude: float, longitude: float) -> dt.datetime | None:
    """The UTC instant of ``event`` on the solar day near ``day`` at a place.

    The day is the one whose solar noon falls near noon UTC of ``day`` shifted by the
    longitude, so consecutive days give consecutive events. ``None`` when the sun does
    not reach the event's zenith angle that day (polar day or night).
    """
    zenith, direction = EVENTS[event]
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    midnight_jd = midnight.timestamp() / 86400.0 + _UNIX_EPOCH_JD
    minutes = 720.0 - 4.0 * longitude  # first guess: noon, before the equation of time
    probed_midnight = False
    refinements = 0
    while refinements < _REFINEMENTS:
        declination, equation_of_time = _sun_position(midnight_jd + minutes / 1440.0)
        noon = 720.0 - 4.0 * longitude - equation_of_time
        angle = 0.0 if direction == 0 else _hour_angle(zenith, latitude, declination)
        if angle is None:
            if probed_midnight:
                return None
            # Near polar twilight the event, if any, is close to solar midnight, where
            # the sun's declination differs from noon's: look there before giving up.
            probed_midnight = True
            minutes = noon + direction * 720.0
            continue
        minutes = noon + direction * 4.0 * angle
        refinements += 1
    return midnight + dt.timedelta(minutes=minutes)
