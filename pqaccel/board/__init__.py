"""Board support: the UART host link (:mod:`.link`, :mod:`.uart`), board tops with PLLs
(:mod:`.boards`) and the bitstream build (:mod:`.build`)."""
