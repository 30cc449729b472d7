"""Request and response models, named ``XCreate / XUpdate / XRead`` per resource."""
