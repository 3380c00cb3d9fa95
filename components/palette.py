"""Okabe-Ito colour-blind-safe palette (Okabe & Ito 2008), and the roles the app gives its colours.

Colour never carries meaning alone: every chart also uses shape, position or text, and has a table.
"""

BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#999999"
LIGHT_GREY = "#DDDDDD"

RAISES = BLUE  # a contribution that raises the probability
LOWERS = VERMILLION  # a contribution that lowers it
COMPLETE = BLUE  # icon array: complete response
NOT_COMPLETE = GREY
INTERVAL = ORANGE
MATCH_SAME = VERMILLION
MATCH_SIMILAR = ORANGE
OTHER = SKY_BLUE
