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
TEXT_GREY = "#595959"  # grey text on white at 7:1 (#999999 is 2.8:1, too faint for text)
MID_GREY = "#767676"  # the lightest grey with 4.5:1 on white: shapes that carry meaning

RAISES = BLUE  # a contribution that raises the probability
LOWERS = VERMILLION  # a contribution that lowers it
COMPLETE = BLUE  # icon array: complete response
NOT_COMPLETE = MID_GREY
INTERVAL = ORANGE
MATCH_SAME = VERMILLION
MATCH_SIMILAR = ORANGE
OTHER = SKY_BLUE
