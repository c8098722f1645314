"""The one register map: a description language, its C / Markdown emitters, the bank gateware, its Python model and the EP core's map."""
