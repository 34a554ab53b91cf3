"""The conventions of the generated video text benchmark's two domains (news source, variety-show
target): word pools of each text kind in each language, special tokens, the layout and styling
of each kind, and the class priors (``osan/data/generators/vtc.py`` draws samples from them)."""

from __future__ import annotations

# --- language ---------------------------------------------------------------------------------
# Word pools per kind: (shared by both domains, news only, variety-show only). Words of one kind
# share a semantic centre, so a show-only word lies near the news words of its kind.
FUNCTION_WORDS = (
    "the", "a", "of", "to", "and", "in", "is", "we", "you", "it", "for", "on", "this", "that",
    "i", "be", "have", "are", "with", "will", "at", "was", "they", "not",
)  # fmt: skip
WORD_POOLS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "subtitle": (
        ("people", "today", "think", "know", "time", "going", "really", "said", "want", "here"),
        ("government", "officials", "minister", "according", "reported", "police", "economy",
         "percent", "committee", "announced", "citizens", "authorities", "statement", "measures",
         "region", "continue", "support", "situation", "investigation", "believe"),
        ("oh", "wow", "yeah", "gonna", "guys", "okay", "look", "seriously", "crazy", "funny",
         "eat", "delicious", "hey", "come", "why", "what", "sorry", "wait", "scared", "haha"),
    ),
    "caption": (
        ("new", "first", "world", "live", "home", "family", "year", "win"),
        ("breaking", "update", "budget", "election", "results", "crisis", "talks", "summit",
         "floods", "markets", "exclusive", "report", "interview", "plan", "vote", "strike"),
        ("omg", "lol", "cute", "awkward", "shocked", "legend", "boss", "mission", "round",
         "fail", "tears", "savage", "epic", "genius", "squad", "challenge"),
    ),
    "ticker": (
        ("weather", "sports", "score"),
        ("dow", "nasdaq", "ftse", "nikkei", "stocks", "oil", "gold", "shares", "index", "sunny",
         "rain", "cloudy", "traffic"),
        ("sponsored", "presented", "tickets", "tonight", "episode", "voting", "app"),
    ),
    "logo": (
        ("hd", "tv", "channel"),
        ("news24", "ch7", "worldnews", "globalnet"),
        ("funtv", "starshow", "showplus", "happyhour"),
    ),
    "background": (
        ("exit", "open", "stop", "cafe", "sale", "street"),
        ("hotel", "bank", "parliament", "station", "airport", "office"),
        ("stage", "kitchen", "props", "prize", "studio", "menu"),
    ),
}  # fmt: skip
NUMBER_TOKEN = "[NUM]"
SYMBOL_TOKEN = "[SYM]"
UNK_TOKEN = "[UNK]"
SYMBOLS = ("♥", "★", "☆", "♪", "!!", "??")

# --- layout conventions -------------------------------------------------------------------------
# Per domain and kind: Gaussian (mean, sd) of x, y (0 top, 1 bottom), font size (fraction of the
# frame height), log-duration (seconds), horizontal motion dx (frame widths per second), pop
# (size-pulsing amplitude), saturation, blur and OCR confidence; probabilities of bold, box,
# outline and of the text being placed at the top instead (y -> 1 - y).
LAYOUT: dict[str, dict[str, dict[str, tuple[float, float] | float]]] = {
    "news": {
        "subtitle": dict(x=(0.5, 0.04), y=(0.87, 0.05), font=(0.045, 0.008), dur=(0.9, 0.4),
                         dx=(0.0, 0.005), pop=(0.0, 0.01), sat=(0.15, 0.12), blur=(0.1, 0.05),
                         conf=(0.92, 0.04), bold=0.35, box=0.4, stroke=0.4, top=0.03),
        "caption": dict(x=(0.42, 0.12), y=(0.80, 0.07), font=(0.05, 0.01), dur=(1.5, 0.45),
                        dx=(0.0, 0.01), pop=(0.0, 0.02), sat=(0.3, 0.15), blur=(0.1, 0.05),
                        conf=(0.93, 0.04), bold=0.6, box=0.7, stroke=0.25, top=0.08),
        "ticker": dict(x=(0.5, 0.1), y=(0.95, 0.02), font=(0.035, 0.005), dur=(2.2, 0.4),
                       dx=(-0.15, 0.04), pop=(0.0, 0.01), sat=(0.3, 0.15), blur=(0.15, 0.06),
                       conf=(0.85, 0.06), bold=0.3, box=0.85, stroke=0.1, top=0.05),
        "logo": dict(x=(0.88, 0.06), y=(0.08, 0.04), font=(0.03, 0.006), dur=(3.0, 0.3),
                     dx=(0.0, 0.003), pop=(0.0, 0.01), sat=(0.5, 0.2), blur=(0.1, 0.05),
                     conf=(0.8, 0.08), bold=0.6, box=0.2, stroke=0.2, top=0.0),
        "background": dict(x=(0.5, 0.22), y=(0.45, 0.2), font=(0.03, 0.012), dur=(1.5, 0.6),
                           dx=(0.0, 0.03), pop=(0.0, 0.02), sat=(0.3, 0.2), blur=(0.45, 0.15),
                           conf=(0.6, 0.12), bold=0.2, box=0.1, stroke=0.05, top=0.0),
    },
    "show": {
        "subtitle": dict(x=(0.5, 0.06), y=(0.85, 0.06), font=(0.065, 0.012), dur=(1.1, 0.4),
                         dx=(0.0, 0.005), pop=(0.05, 0.05), sat=(0.6, 0.2), blur=(0.1, 0.05),
                         conf=(0.9, 0.05), bold=0.7, box=0.2, stroke=0.8, top=0.25),
        "caption": dict(x=(0.5, 0.2), y=(0.55, 0.25), font=(0.068, 0.018), dur=(0.5, 0.45),
                        dx=(0.0, 0.05), pop=(0.12, 0.08), sat=(0.75, 0.15), blur=(0.12, 0.05),
                        conf=(0.85, 0.06), bold=0.85, box=0.3, stroke=0.85, top=0.0),
        "ticker": dict(x=(0.5, 0.1), y=(0.93, 0.03), font=(0.04, 0.006), dur=(2.0, 0.4),
                       dx=(-0.12, 0.04), pop=(0.0, 0.01), sat=(0.6, 0.15), blur=(0.15, 0.06),
                       conf=(0.85, 0.06), bold=0.5, box=0.7, stroke=0.3, top=0.2),
        "logo": dict(x=(0.15, 0.08), y=(0.1, 0.05), font=(0.04, 0.008), dur=(3.0, 0.3),
                     dx=(0.0, 0.003), pop=(0.05, 0.03), sat=(0.8, 0.15), blur=(0.1, 0.05),
                     conf=(0.8, 0.08), bold=0.8, box=0.3, stroke=0.5, top=0.0),
        "background": dict(x=(0.5, 0.22), y=(0.5, 0.2), font=(0.06, 0.02), dur=(1.3, 0.6),
                           dx=(0.0, 0.05), pop=(0.0, 0.02), sat=(0.7, 0.2), blur=(0.3, 0.15),
                           conf=(0.7, 0.12), bold=0.6, box=0.3, stroke=0.3, top=0.0),
    },
}  # fmt: skip
# Text styling per domain and kind: probabilities of ALL CAPS, Title Case, trailing punctuation,
# a symbol token; the token-count range; the share of function words; and the mixture of word
# pools the content words come from (captions quote speech, tickers carry headlines, ...).
STYLE: dict[str, dict[str, dict]] = {
    "news": {
        "subtitle": dict(caps=0.02, title=0.05, punct=0.05, symbol=0.0, words=(5, 14), fn=0.45,
                         mix=dict(subtitle=0.8, caption=0.2)),
        "caption": dict(caps=0.5, title=0.3, punct=0.05, symbol=0.0, words=(2, 8), fn=0.1,
                        mix=dict(caption=0.6, subtitle=0.4)),
        "ticker": dict(caps=0.5, title=0.2, punct=0.0, symbol=0.05, words=(4, 12), fn=0.1,
                       mix=dict(ticker=0.7, caption=0.3)),
        "logo": dict(caps=0.7, title=0.2, punct=0.0, symbol=0.0, words=(1, 3), fn=0.0,
                     mix=dict(logo=0.8, background=0.2)),
        "background": dict(caps=0.4, title=0.3, punct=0.0, symbol=0.0, words=(1, 5), fn=0.1,
                           mix=dict(background=0.6, caption=0.2, subtitle=0.2)),
    },
    "show": {
        "subtitle": dict(caps=0.05, title=0.1, punct=0.35, symbol=0.1, words=(3, 11), fn=0.4,
                         mix=dict(subtitle=0.7, caption=0.3)),
        "caption": dict(caps=0.35, title=0.2, punct=0.4, symbol=0.3, words=(1, 7), fn=0.2,
                        mix=dict(caption=0.5, subtitle=0.5)),
        "ticker": dict(caps=0.3, title=0.3, punct=0.1, symbol=0.1, words=(4, 10), fn=0.1,
                       mix=dict(ticker=0.6, caption=0.4)),
        "logo": dict(caps=0.5, title=0.3, punct=0.0, symbol=0.2, words=(1, 3), fn=0.0,
                     mix=dict(logo=0.7, background=0.3)),
        "background": dict(caps=0.4, title=0.3, punct=0.1, symbol=0.1, words=(1, 5), fn=0.1,
                           mix=dict(background=0.5, caption=0.3, subtitle=0.2)),
    },
}  # fmt: skip
# Probability of each kind: Caption, Subtitle, then the Others kinds (ticker, logo, background).
KIND_PRIORS = {
    "news": {"caption": 0.30, "subtitle": 0.50, "ticker": 0.10, "logo": 0.05, "background": 0.05},
    "show": {"caption": 0.45, "subtitle": 0.35, "ticker": 0.02, "logo": 0.06, "background": 0.12},
}
