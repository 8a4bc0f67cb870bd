int gr_config_placeholder;
