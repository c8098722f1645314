"""RTL generator (Amaranth): the EP core, its noise source and register map."""
