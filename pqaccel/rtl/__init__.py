"""Amaranth blocks of the PQ engine, one per file; :class:`pqaccel.rtl.top.PQEngine` ties them."""
