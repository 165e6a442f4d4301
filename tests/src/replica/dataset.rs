//! The replica's taxpayers. Three are SUNAT pages served byte for byte (two
//! captured from the real site, one fixture of the design notes); the others
//! are rendered from the fields below, written as SUNAT prints them, to cover
//! the taxpayer types and value shapes the samples do not: BAJA DE OFICIO
//! with its date and banner, NO HABIDO with its explanation, several
//! activities, Callao and multi-word regions, natural persons with a
//! business, prefix 17, every spelling of the accounting-system label.
//!
//! The records these must give are written separately, by hand, in
//! `tests/expected/<ruc>.json`.

/// Where a taxpayer's result page comes from.
pub enum Source {
    /// A saved page, served as is.
    Verbatim(&'static str),
    /// Rendered by [`super::pages::result_page`].
    Rendered(Box<Taxpayer>),
}

/// A result page's fields, as SUNAT prints them.
pub struct Taxpayer {
    pub ruc: &'static str,
    pub razon_social: &'static str,
    pub tipo: &'static str,
    /// Natural persons only, e.g. `DNI  47123456 \r\n - QUISPE MAMANI, ROSA`.
    pub tipo_documento: Option<&'static str>,
    /// `-` when none.
    pub nombre_comercial: &'static str,
    pub fecha_inscripcion: &'static str,
    pub fecha_inicio: &'static str,
    pub estado: &'static str,
    /// Printed after `</br>` inside the Estado value.
    pub fecha_baja: Option<&'static str>,
    pub condicion: &'static str,
    /// The explanation printed after `</br>` for NO HABIDO.
    pub condicion_nota: Option<&'static str>,
    /// `None` prints `-`.
    pub domicilio: Option<Domicilio>,
    pub sist_emision: &'static str,
    pub act_exterior: &'static str,
    /// Which spelling of the label the page uses (2021 typo, fixed, old).
    pub contabilidad_label: &'static str,
    pub sist_contabilidad: &'static str,
    pub actividades: &'static [&'static str],
    /// `["NINGUNO"]` when none.
    pub cp_pago: &'static [&'static str],
    /// Empty prints a bare `-` without table.
    pub sist_electronica: &'static [&'static str],
    pub emisor_desde: &'static str,
    /// Comma-separated, no space after the comma; `-` when none.
    pub cpe: &'static str,
    pub ple: &'static str,
    /// `["NINGUNO"]` when none; accents are written as HTML entities.
    pub padrones: &'static [&'static str],
}

/// A taxpayer's address, as the replica shows it.
pub struct Domicilio {
    /// Ends up followed by two spaces, like SUNAT's street text.
    pub street: &'static str,
    pub departamento: &'static str,
    pub provincia: &'static str,
    pub distrito: &'static str,
}

/// The taxpayer whose page the replica shows for `ruc`, if any.
pub fn find(ruc: &str) -> Option<Source> {
    let source = match ruc {
        "20440374248" => Source::Verbatim(include_str!("../../../scraper/tests/pages/captured/20440374248.html")),
        "10401510465" => Source::Verbatim(include_str!("../../../scraper/tests/pages/captured/10401510465.html")),
        "20987654326" => Source::Verbatim(include_str!("../../../scraper/tests/pages/result.html")),
        _ => Source::Rendered(Box::new(rendered().into_iter().find(|t| t.ruc == ruc)?)),
    };
    Some(source)
}

/// RUCs and names of every taxpayer, for the list page of name searches.
pub fn names() -> Vec<(&'static str, &'static str)> {
    let mut names = vec![
        ("20440374248", "GOBIERNO REGIONAL LA LIBERTAD"),
        ("10401510465", "PEREZ - JUAN"),
        ("20987654326", "EMPRESA DE PRUEBA REPLICA S.A.C."),
    ];
    names.extend(rendered().iter().map(|t| (t.ruc, t.razon_social)));
    names
}

fn rendered() -> Vec<Taxpayer> {
    vec![
        Taxpayer {
            ruc: "20550263948",
            razon_social: "CONSTRUCTORA LOS ANDES & ASOCIADOS S.A.C.",
            tipo: "SOCIEDAD ANONIMA CERRADA",
            tipo_documento: None,
            nombre_comercial: "-",
            fecha_inscripcion: "12/05/2013",
            fecha_inicio: "01/06/2013",
            estado: "BAJA DE OFICIO",
            fecha_baja: Some("31/10/2016"),
            condicion: "NO HALLADO",
            condicion_nota: None,
            domicilio: Some(Domicilio {
                street: "AV. SAENZ PEÑA NRO. 1120 DPTO. 301",
                departamento: "PROV. CONST. DEL CALLAO",
                provincia: "PROV. CONST. DEL CALLAO",
                distrito: "BELLAVISTA",
            }),
            sist_emision: "MANUAL",
            act_exterior: "SIN ACTIVIDAD",
            contabilidad_label: "Sistema Contabilidiad:",
            sist_contabilidad: "MANUAL",
            actividades: &["Principal    - 4100 - CONSTRUCCIÓN DE EDIFICIOS"],
            cp_pago: &["FACTURA", "BOLETA DE VENTA"],
            sist_electronica: &[],
            emisor_desde: "-",
            cpe: "-",
            ple: "-",
            padrones: &["NINGUNO"],
        },
        Taxpayer {
            ruc: "20493919271",
            razon_social: "AGROINDUSTRIAS AMAZONICAS DEL SUR E.I.R.L.",
            tipo: "EMPRESA INDIVIDUAL DE RESP. LTDA",
            tipo_documento: None,
            nombre_comercial: "AGROSUR",
            fecha_inscripcion: "03/02/2006",
            fecha_inicio: "-",
            estado: "SUSPENSION TEMPORAL",
            fecha_baja: None,
            condicion: "NO HABIDO",
            condicion_nota: Some(
                "Deberá declarar el nuevo domicilio fiscal o confirmar el señalado en el RUC. Para ello, deberá acercarse a los Centros de Servicios al Contribuyente con los documentos que sustenten el nuevo domicilio.",
            ),
            domicilio: Some(Domicilio {
                street: "JR. LOS CASTAÑOS NRO. 245 (FRENTE AL MERCADO MODELO)",
                departamento: "MADRE DE DIOS",
                provincia: "TAMBOPATA",
                distrito: "TAMBOPATA",
            }),
            sist_emision: "MANUAL",
            act_exterior: "EXPORTADOR",
            contabilidad_label: "Sistema Contabilidad:",
            sist_contabilidad: "MANUAL/COMPUTARIZADO",
            actividades: &["Principal    - 0161 - ACTIVIDADES DE APOYO A LA AGRICULTURA"],
            cp_pago: &["NINGUNO"],
            sist_electronica: &[],
            emisor_desde: "-",
            cpe: "-",
            ple: "01/01/2014",
            padrones: &["NINGUNO"],
        },
        Taxpayer {
            ruc: "20146806679",
            razon_social: "DISTRIBUIDORA COMERCIAL NORTE SOCIEDAD ANONIMA",
            tipo: "SOCIEDAD ANONIMA",
            tipo_documento: None,
            nombre_comercial: "DICONOR",
            fecha_inscripcion: "18/08/1994",
            fecha_inicio: "01/09/1994",
            estado: "ACTIVO",
            fecha_baja: None,
            condicion: "HABIDO",
            condicion_nota: None,
            domicilio: Some(Domicilio {
                street: "CAL.SAN MARTIN NRO. 450 URB.  EL CARMEN",
                departamento: "LAMBAYEQUE",
                provincia: "CHICLAYO",
                distrito: "CHICLAYO",
            }),
            sist_emision: "COMPUTARIZADO",
            act_exterior: "IMPORTADOR",
            contabilidad_label: "Sistema Contabilidiad:",
            sist_contabilidad: "COMPUTARIZADO",
            actividades: &[
                "Principal    - 4690 - VENTA AL POR MAYOR NO ESPECIALIZADA",
                "Secundaria 1 - 4530  - VENTA DE PARTES, PIEZAS Y ACCESORIOS PARA VEHÍCULOS AUTOMOTORES",
                "Secundaria 2 - 4772 - VENTA AL POR MENOR DE PRODUCTOS FARMACÉUTICOS Y MEDICINALES",
            ],
            cp_pago: &[
                "FACTURA",
                "BOLETA DE VENTA",
                "NOTA DE CREDITO",
                "NOTA DE DEBITO",
                "GUIA DE REMISION - REMITENTE",
            ],
            sist_electronica: &[
                "SEE-FACTURADOR                      . AUTORIZ DESDE 10/01/2017",
                "DESDE LOS SISTEMAS DEL CONTRIBUYENTE. AUTORIZ DESDE 01/01/2013",
            ],
            emisor_desde: "01/01/2013",
            cpe: "FACTURA (desde 01/01/2013),BOLETA (desde 01/01/2013)",
            ple: "01/01/2013",
            padrones: &[
                "Incorporado al R&eacute;gimen de Agentes de Retenci&oacute;n de IGV (R.S.037-2002) a partir del 01/06/2002",
                "Incorporado al R&eacute;gimen de Buenos Contribuyentes (D.S.105-2003) a partir del 01/12/2006",
            ],
        },
        Taxpayer {
            ruc: "10471234562",
            razon_social: "QUISPE MAMANI ROSA ELENA",
            tipo: "PERSONA NATURAL CON NEGOCIO",
            tipo_documento: Some("DNI  47123456 \r\n\t\t\t\t - QUISPE MAMANI, ROSA ELENA"),
            nombre_comercial: "BODEGA ROSITA",
            fecha_inscripcion: "07/03/2015",
            fecha_inicio: "07/03/2015",
            estado: "ACTIVO",
            fecha_baja: None,
            condicion: "HABIDO",
            condicion_nota: None,
            domicilio: Some(Domicilio {
                street: "JR. RAMON CASTILLA NRO. 312",
                departamento: "SAN MARTIN",
                provincia: "SAN MARTIN",
                distrito: "TARAPOTO",
            }),
            sist_emision: "MANUAL",
            act_exterior: "SIN ACTIVIDAD",
            contabilidad_label: "Sistema de Contabilidad:",
            sist_contabilidad: "MANUAL",
            actividades: &["Principal    - 4711 - VENTA AL POR MENOR EN COMERCIOS NO ESPECIALIZADOS CON PREDOMINIO DE LA VENTA DE ALIMENTOS, BEBIDAS O TABACO"],
            cp_pago: &["BOLETA DE VENTA"],
            sist_electronica: &["RECIBOS POR HONORARIOS     AFILIADO DESDE 29/02/2024"],
            emisor_desde: "29/02/2024",
            cpe: "RECIBO POR HONORARIO (desde 29/02/2024)",
            ple: "-",
            padrones: &["NINGUNO"],
        },
        Taxpayer {
            ruc: "17155542071",
            razon_social: "SUCESION INDIVISA FLORES VARGAS ANTONIO",
            tipo: "SUCESION INDIVISA SIN NEGOCIO",
            tipo_documento: None,
            nombre_comercial: "-",
            fecha_inscripcion: "22/11/1999",
            fecha_inicio: "22/11/1999",
            estado: "BAJA DEFINITIVA",
            fecha_baja: Some("15/03/2008"),
            condicion: "HABIDO",
            condicion_nota: None,
            domicilio: Some(Domicilio {
                street: "CAL.MERCADERES NRO. 118 - CERCADO",
                departamento: "AREQUIPA",
                provincia: "AREQUIPA",
                distrito: "AREQUIPA",
            }),
            sist_emision: "MANUAL",
            act_exterior: "SIN ACTIVIDAD",
            contabilidad_label: "Sistema Contabilidiad:",
            sist_contabilidad: "MANUAL",
            actividades: &["Principal    - 68100 - ACTIVIDADES INMOBILIARIAS CON BIENES PROPIOS O ARRENDADOS"],
            cp_pago: &["NINGUNO"],
            sist_electronica: &[],
            emisor_desde: "-",
            cpe: "-",
            ple: "-",
            padrones: &["NINGUNO"],
        },
    ]
}
